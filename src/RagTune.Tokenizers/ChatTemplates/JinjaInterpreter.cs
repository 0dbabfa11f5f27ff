using System.Globalization;
using System.Text;

namespace RagTune.Tokenizers.ChatTemplates;

/// <summary>
/// Evaluates a parsed template with Python/Jinja2 value semantics: values are <c>null</c> (None), <see cref="bool"/>,
/// <see cref="long"/>, <see cref="double"/>, <see cref="string"/>, <c>List&lt;object?&gt;</c>,
/// <c>Dictionary&lt;string, object?&gt;</c> (insertion-ordered keys), <see cref="JinjaNamespace"/> or
/// <see cref="JinjaUndefined"/>. Truthiness, <c>==</c>, <c>+</c>, <c>%</c> and string conversion follow Python;
/// a missing key or attribute is undefined (prints as nothing, is false, fails when used further), as with
/// Jinja2's default <c>Undefined</c>. Loops get their own scope, so <c>set</c> inside a loop does not leak out.
/// </summary>
internal sealed class JinjaInterpreter
{
    private readonly string _source;
    private readonly List<Dictionary<string, object?>> _scopes = [];
    private readonly StringBuilder _output = new();

    private JinjaInterpreter(string source, Dictionary<string, object?> globals)
    {
        _source = source;
        _scopes.Add(globals);
    }

    public static string Render(JinjaNode[] nodes, string source, Dictionary<string, object?> globals)
    {
        var interpreter = new JinjaInterpreter(source, globals);
        interpreter.Execute(nodes);
        return interpreter._output.ToString();
    }

    private sealed class LoopControl(bool isBreak) : Exception
    {
        public bool IsBreak { get; } = isBreak;
    }

    // ── statements ──

    private void Execute(JinjaNode[] nodes)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode text:
                    _output.Append(text.Text);
                    break;
                case OutputNode output:
                    _output.Append(ToText(Evaluate(output.Value)));
                    break;
                case IfNode ifNode:
                    var taken = false;
                    foreach (var (condition, body) in ifNode.Branches)
                    {
                        if (IsTrue(Evaluate(condition)))
                        {
                            Execute(body);
                            taken = true;
                            break;
                        }
                    }
                    if (!taken && ifNode.Else is { } elseBody)
                        Execute(elseBody);
                    break;
                case ForNode forNode:
                    ExecuteFor(forNode);
                    break;
                case SetNode set:
                    object? value;
                    if (set.Value is { } expr)
                    {
                        value = Evaluate(expr);
                    }
                    else
                    {
                        var mark = _output.Length;
                        Execute(set.Body!);
                        value = _output.ToString(mark, _output.Length - mark);
                        _output.Length = mark;
                    }
                    if (set.Attribute is null)
                        _scopes[^1][set.Name] = value;
                    else if (Lookup(set.Name) is JinjaNamespace ns)
                        ns.Values[set.Attribute] = value;
                    else
                        throw Error(set.Line, $"'{set.Name}' is not a namespace(); only namespace attributes can be assigned.");
                    break;
                case LoopControlNode control:
                    throw new LoopControl(control.IsBreak);
            }
        }
    }

    private void ExecuteFor(ForNode node)
    {
        var items = Iterate(Evaluate(node.Iterable), node.Line);
        if (node.Filter is { } filter)
        {
            var kept = new List<object?>();
            foreach (var item in items)
            {
                var probe = new Dictionary<string, object?>(StringComparer.Ordinal);
                Bind(probe, node, item);
                _scopes.Add(probe);
                try
                {
                    if (IsTrue(Evaluate(filter)))
                        kept.Add(item);
                }
                finally
                {
                    _scopes.RemoveAt(_scopes.Count - 1);
                }
            }
            items = kept;
        }
        if (items.Count == 0)
        {
            if (node.Else is { } elseBody)
                Execute(elseBody);
            return;
        }
        for (var i = 0; i < items.Count; i++)
        {
            var scope = new Dictionary<string, object?>(StringComparer.Ordinal);
            Bind(scope, node, items[i]);
            scope["loop"] = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["index"] = (long)(i + 1),
                ["index0"] = (long)i,
                ["revindex"] = (long)(items.Count - i),
                ["revindex0"] = (long)(items.Count - i - 1),
                ["first"] = i == 0,
                ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count,
                ["previtem"] = i > 0 ? items[i - 1] : JinjaUndefined.Instance,
                ["nextitem"] = i + 1 < items.Count ? items[i + 1] : JinjaUndefined.Instance,
            };
            _scopes.Add(scope);
            try
            {
                Execute(node.Body);
            }
            catch (LoopControl control)
            {
                if (control.IsBreak)
                    break;
            }
            finally
            {
                _scopes.RemoveAt(_scopes.Count - 1);
            }
        }
    }

    private void Bind(Dictionary<string, object?> scope, ForNode node, object? item)
    {
        if (node.Targets.Length == 1)
        {
            scope[node.Targets[0]] = item;
            return;
        }
        var parts = Iterate(item, node.Line);
        if (parts.Count != node.Targets.Length)
            throw Error(node.Line, $"cannot unpack {parts.Count} values into {node.Targets.Length} loop variables.");
        for (var k = 0; k < parts.Count; k++)
            scope[node.Targets[k]] = parts[k];
    }

    private object? Lookup(string name)
    {
        for (var i = _scopes.Count - 1; i >= 0; i--)
        {
            if (_scopes[i].TryGetValue(name, out var value))
                return value;
        }
        return JinjaUndefined.Instance;
    }

    // ── expressions ──

    private object? Evaluate(JinjaExpr expr)
    {
        switch (expr)
        {
            case LiteralExpr literal:
                return literal.Value;
            case NameExpr name:
                return Lookup(name.Name);
            case AttrExpr attr:
                return GetAttribute(Evaluate(attr.Target), attr.Name, attr.Line);
            case ItemExpr item:
                return GetItem(Evaluate(item.Target), Evaluate(item.Key), item.Line);
            case SliceExpr slice:
                return Slice(Evaluate(slice.Target), slice);
            case CallExpr call:
                return Call(call);
            case FilterExpr filter:
                return JinjaBuiltins.Filter(this, filter.Name, Evaluate(filter.Target), [.. filter.Args.Select(Evaluate)],
                    filter.Kwargs.ToDictionary(k => k.Name, k => Evaluate(k.Value)), filter.Line);
            case TestExpr test:
                var result = JinjaBuiltins.Test(this, test.Name, Evaluate(test.Target), [.. test.Args.Select(Evaluate)], test.Line);
                return test.Negated ? !result : result;
            case UnaryExpr unary:
                var operand = Evaluate(unary.Operand);
                return unary.Op == "not" ? !IsTrue(operand)
                    : operand switch { long l => (object)(-l), double d => -d, _ => throw Error(unary.Line, $"cannot negate {TypeName(operand)}.") };
            case BinaryExpr binary:
                return EvaluateBinary(binary);
            case ConditionalExpr conditional:
                return IsTrue(Evaluate(conditional.Condition)) ? Evaluate(conditional.Then)
                    : conditional.Else is { } otherwise ? Evaluate(otherwise) : JinjaUndefined.Instance;
            case ListExpr list:
                return list.Items.Select(Evaluate).ToList();
            case DictExpr dict:
                var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, value) in dict.Items)
                    map[ToText(Evaluate(key))] = Evaluate(value);
                return map;
            default:
                throw Error(expr.Line, "unknown expression.");
        }
    }

    private object? EvaluateBinary(BinaryExpr b)
    {
        if (b.Op == "and")
        {
            var left = Evaluate(b.Left);
            return IsTrue(left) ? Evaluate(b.Right) : left;
        }
        if (b.Op == "or")
        {
            var left = Evaluate(b.Left);
            return IsTrue(left) ? left : Evaluate(b.Right);
        }
        var l = Evaluate(b.Left);
        var r = Evaluate(b.Right);
        switch (b.Op)
        {
            case "==": return AreEqual(l, r);
            case "!=": return !AreEqual(l, r);
            case "<" or ">" or "<=" or ">=":
                var c = Compare(l, r, b.Line);
                return b.Op switch { "<" => c < 0, ">" => c > 0, "<=" => c <= 0, _ => c >= 0 };
            case "in": return Contains(r, l, b.Line);
            case "not in": return !Contains(r, l, b.Line);
            case "~": return ToText(l) + ToText(r);
            case "+":
                return (l, r) switch
                {
                    (string x, string y) => x + y,
                    (List<object?> x, List<object?> y) => new List<object?>([.. x, .. y]),
                    _ when IsNumber(l) && IsNumber(r) => Arithmetic(l, r, "+"),
                    _ => throw Error(b.Line, $"cannot add {TypeName(l)} and {TypeName(r)} with '+' (use '~' to join as text)."),
                };
            case "-" or "*" or "/" or "//" or "%":
                if (b.Op == "*" && l is string s && r is long times)
                    return string.Concat(Enumerable.Repeat(s, (int)Math.Max(0, times)));
                if (!IsNumber(l) || !IsNumber(r))
                    throw Error(b.Line, $"cannot apply '{b.Op}' to {TypeName(l)} and {TypeName(r)}.");
                return Arithmetic(l, r, b.Op);
            default:
                throw Error(b.Line, $"unknown operator '{b.Op}'.");
        }
    }

    private static object Arithmetic(object? l, object? r, string op)
    {
        if (l is long a && r is long b && op != "/")
        {
            return op switch
            {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                "//" => (long)Math.Floor((double)a / b),
                _ => ((a % b) + b) % b, // Python's modulo takes the divisor's sign
            };
        }
        var x = Convert.ToDouble(l, CultureInfo.InvariantCulture);
        var y = Convert.ToDouble(r, CultureInfo.InvariantCulture);
        return op switch
        {
            "+" => x + y,
            "-" => x - y,
            "*" => x * y,
            "/" => x / y,
            "//" => Math.Floor(x / y),
            _ => x - (y * Math.Floor(x / y)),
        };
    }

    private object? Call(CallExpr call)
    {
        var args = call.Args.Select(Evaluate).ToList();
        var kwargs = call.Kwargs.ToDictionary(k => k.Name, k => Evaluate(k.Value));
        if (call.Callee is AttrExpr method)
        {
            var target = Evaluate(method.Target);
            if (JinjaBuiltins.TryMethod(this, target, method.Name, args, call.Line, out var result))
                return result;
            throw Error(call.Line, $"{TypeName(target)} has no method '{method.Name}' that RagTune's template interpreter knows.");
        }
        if (call.Callee is NameExpr { Name: var name })
            return JinjaBuiltins.Function(this, name, args, kwargs, call.Line);
        throw Error(call.Line, "only functions and methods can be called.");
    }

    private object? GetAttribute(object? target, string name, int line) => target switch
    {
        Dictionary<string, object?> d => d.TryGetValue(name, out var v) ? v : JinjaUndefined.Instance,
        JinjaNamespace ns => ns.Values.TryGetValue(name, out var v) ? v : JinjaUndefined.Instance,
        JinjaUndefined => throw Error(line, $"'{name}' was read from an undefined value."),
        _ => JinjaUndefined.Instance,
    };

    private object? GetItem(object? target, object? key, int line)
    {
        switch (target)
        {
            case Dictionary<string, object?> d:
                return key is string k && d.TryGetValue(k, out var v) ? v : JinjaUndefined.Instance;
            case List<object?> list when key is long index:
                if (index < 0)
                    index += list.Count;
                return index >= 0 && index < list.Count ? list[(int)index] : JinjaUndefined.Instance;
            case string s when key is long index:
                if (index < 0)
                    index += s.Length;
                return index >= 0 && index < s.Length ? s[(int)index].ToString() : JinjaUndefined.Instance;
            case JinjaUndefined:
                throw Error(line, $"an undefined value was indexed with [{ToText(key)}].");
            default:
                return key is string name ? GetAttribute(target, name, line) : JinjaUndefined.Instance;
        }
    }

    private object? Slice(object? target, SliceExpr slice)
    {
        long? Bound(JinjaExpr? e) => e is null ? null : Evaluate(e) switch { long l => l, null => null, var v => throw Error(slice.Line, $"slice bounds must be integers, not {TypeName(v)}.") };
        var start = Bound(slice.Start);
        var stop = Bound(slice.Stop);
        var step = Bound(slice.Step) ?? 1;
        if (step == 0)
            throw Error(slice.Line, "slice step cannot be zero.");
        var value = Evaluate(slice.Target);
        var count = value switch { List<object?> l => l.Count, string s => s.Length, _ => throw Error(slice.Line, $"cannot slice {TypeName(value)}.") };
        var indices = new List<int>();
        // Python's slice.indices().
        long Clamp(long? v, long def, long lo, long hi) => v is not { } x ? def : x < 0 ? Math.Max(x + count, lo) : Math.Min(x, hi);
        if (step > 0)
        {
            for (long i = Clamp(start, 0, 0, count), end = Clamp(stop, count, 0, count); i < end; i += step)
                indices.Add((int)i);
        }
        else
        {
            for (long i = Clamp(start, count - 1, -1, count - 1), end = Clamp(stop, -1, -1, count - 1); i > end; i += step)
                indices.Add((int)i);
        }
        return value is string str ? string.Concat(indices.Select(i => str[i])) : indices.Select(i => ((List<object?>)value!)[i]).ToList();
    }

    // ── Python value semantics ──

    internal static bool IsTrue(object? v) => v switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        Dictionary<string, object?> d => d.Count > 0,
        _ => true,
    };

    internal static bool IsNumber(object? v) => v is long or double or bool;

    internal static bool AreEqual(object? a, object? b)
    {
        if (a is JinjaUndefined || b is JinjaUndefined)
            return a is JinjaUndefined && b is JinjaUndefined;
        if (a is null || b is null)
            return a is null && b is null;
        if (IsNumber(a) && IsNumber(b))
            return Convert.ToDouble(a, CultureInfo.InvariantCulture) == Convert.ToDouble(b, CultureInfo.InvariantCulture);
        if (a is List<object?> la && b is List<object?> lb)
            return la.Count == lb.Count && la.Zip(lb).All(p => AreEqual(p.First, p.Second));
        return a.Equals(b);
    }

    private int Compare(object? a, object? b, int line)
    {
        if (IsNumber(a) && IsNumber(b))
            return Convert.ToDouble(a, CultureInfo.InvariantCulture).CompareTo(Convert.ToDouble(b, CultureInfo.InvariantCulture));
        if (a is string x && b is string y)
            return string.CompareOrdinal(x, y);
        throw Error(line, $"cannot order {TypeName(a)} and {TypeName(b)}.");
    }

    private bool Contains(object? container, object? item, int line) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal) : throw Error(line, $"'in <string>' needs a string, not {TypeName(item)}."),
        List<object?> list => list.Any(x => AreEqual(x, item)),
        Dictionary<string, object?> d => item is string key && d.ContainsKey(key),
        JinjaNamespace ns => item is string key && ns.Values.ContainsKey(key),
        JinjaUndefined => throw Error(line, "'in' was applied to an undefined value."),
        _ => throw Error(line, $"'in' cannot look inside {TypeName(container)}."),
    };

    internal List<object?> Iterate(object? v, int line) => v switch
    {
        List<object?> list => list,
        Dictionary<string, object?> d => [.. d.Keys],
        string s => [.. s.EnumerateRunes().Select(r => (object?)r.ToString())],
        JinjaUndefined => [],
        _ => throw Error(line, $"cannot iterate over {TypeName(v)}."),
    };

    /// <summary>Python's <c>str()</c> as Jinja prints a value.</summary>
    internal static string ToText(object? v) => v switch
    {
        null => "None",
        JinjaUndefined => "",
        string s => s,
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatDouble(d),
        _ => Repr(v),
    };

    private static string FormatDouble(double d) =>
        double.IsInteger(d) && Math.Abs(d) < 1e16 ? d.ToString("0.0", CultureInfo.InvariantCulture) : d.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Python's <c>repr()</c> for containers (<c>['a', 1]</c>, <c>{'k': 'v'}</c>).</summary>
    internal static string Repr(object? v) => v switch
    {
        string s => "'" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "'",
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        Dictionary<string, object?> d => "{" + string.Join(", ", d.Select(p => Repr(p.Key) + ": " + Repr(p.Value))) + "}",
        JinjaNamespace => "<Namespace>",
        _ => ToText(v),
    };

    internal static string TypeName(object? v) => v switch
    {
        null => "None",
        JinjaUndefined => "an undefined value",
        string => "a string",
        bool => "a bool",
        long => "an int",
        double => "a float",
        List<object?> => "a list",
        Dictionary<string, object?> => "a dict",
        _ => v.GetType().Name,
    };

    /// <summary>Serialises like Python's <c>json.dumps(ensure_ascii=False)</c> (Hugging Face's <c>tojson</c>).</summary>
    internal static string ToJson(object? v, int? indent, int depth = 0)
    {
        var nl = indent is { } n ? "\n" + new string(' ', n * (depth + 1)) : "";
        var close = indent is { } m ? "\n" + new string(' ', m * depth) : "";
        var sep = indent is null ? ", " : ",";
        return v switch
        {
            null or JinjaUndefined => "null",
            bool b => b ? "true" : "false",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => FormatDouble(d),
            string s => JsonString(s),
            List<object?> list => list.Count == 0 ? "[]" : "[" + nl + string.Join(sep + nl, list.Select(x => ToJson(x, indent, depth + 1))) + close + "]",
            Dictionary<string, object?> d => d.Count == 0 ? "{}" : "{" + nl + string.Join(sep + nl, d.Select(p => JsonString(p.Key) + ": " + ToJson(p.Value, indent, depth + 1))) + close + "}",
            _ => JsonString(ToText(v)),
        };
    }

    private static string JsonString(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20)
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    internal ChatTemplateException Error(int line, string problem) => new($"{_source}: line {line}: {problem}");
}

/// <summary>Jinja's undefined value: a missing variable, key or attribute.</summary>
internal sealed class JinjaUndefined
{
    public static readonly JinjaUndefined Instance = new();

    private JinjaUndefined() { }
}

/// <summary>The object <c>namespace()</c> returns: attributes can be assigned from inside loops.</summary>
internal sealed class JinjaNamespace
{
    public Dictionary<string, object?> Values { get; } = new(StringComparer.Ordinal);
}
