using System.Globalization;

namespace RagTune.Tokenizers.ChatTemplates;

/// <summary>
/// The filters, tests, global functions and Python string/dict methods chat templates call, with Jinja2 /
/// Python behaviour. Anything else is an error that names it, so an unsupported template fails loudly.
/// </summary>
internal static class JinjaBuiltins
{
    public static object? Filter(JinjaInterpreter ctx, string name, object? value, List<object?> args, Dictionary<string, object?> kwargs, int line)
    {
        object? Arg(int i, string key, object? fallback = null) => i < args.Count ? args[i] : kwargs.TryGetValue(key, out var v) ? v : fallback;
        switch (name)
        {
            case "trim":
                return Str(ctx, value, name, line).Trim(PythonWhitespace);
            case "length" or "count":
                return value switch
                {
                    string s => (long)s.Length,
                    List<object?> l => (long)l.Count,
                    Dictionary<string, object?> d => (long)d.Count,
                    _ => throw ctx.Error(line, $"'{name}' cannot measure {JinjaInterpreter.TypeName(value)}."),
                };
            case "upper":
                return Str(ctx, value, name, line).ToUpperInvariant();
            case "lower":
                return Str(ctx, value, name, line).ToLowerInvariant();
            case "capitalize":
                var c = Str(ctx, value, name, line);
                return c.Length == 0 ? c : char.ToUpperInvariant(c[0]) + c[1..].ToLowerInvariant();
            case "title":
                return CultureInfo.InvariantCulture.TextInfo.ToTitleCase(Str(ctx, value, name, line).ToLowerInvariant());
            case "string":
                return JinjaInterpreter.ToText(value);
            case "int":
                return value switch
                {
                    long l => l,
                    double d => (long)d,
                    bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) => p,
                    _ => 0L,
                };
            case "float":
                return value switch
                {
                    long l => (double)l,
                    double d => d,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var p) => p,
                    _ => 0.0,
                };
            case "tojson":
                return JinjaInterpreter.ToJson(value, Arg(0, "indent") is long indent ? (int)indent : null);
            case "default" or "d":
                var useForFalse = JinjaInterpreter.IsTrue(Arg(1, "boolean", false));
                return value is JinjaUndefined || (useForFalse && !JinjaInterpreter.IsTrue(value)) ? Arg(0, "default_value", "") : value;
            case "join":
                var separator = JinjaInterpreter.ToText(Arg(0, "d", ""));
                return string.Join(separator, ctx.Iterate(value, line).Select(JinjaInterpreter.ToText));
            case "first":
                var firstItems = ctx.Iterate(value, line);
                return firstItems.Count > 0 ? firstItems[0] : JinjaUndefined.Instance;
            case "last":
                var lastItems = ctx.Iterate(value, line);
                return lastItems.Count > 0 ? lastItems[^1] : JinjaUndefined.Instance;
            case "list":
                return ctx.Iterate(value, line).ToList();
            case "reverse":
                return value is string rs ? new string([.. rs.Reverse()]) : Enumerable.Reverse(ctx.Iterate(value, line)).ToList();
            case "replace":
                return Str(ctx, value, name, line).Replace(JinjaInterpreter.ToText(Arg(0, "old")), JinjaInterpreter.ToText(Arg(1, "new")), StringComparison.Ordinal);
            case "safe":
                return value;
            case "items":
                return value is Dictionary<string, object?> dict ? dict.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList() : throw ctx.Error(line, "'items' needs a dict.");
            case "selectattr" or "rejectattr":
                var attribute = JinjaInterpreter.ToText(Arg(0, "attribute"));
                var keep = name == "selectattr";
                return ctx.Iterate(value, line).Where(item =>
                {
                    var attr = item is Dictionary<string, object?> d && d.TryGetValue(attribute, out var v) ? v : JinjaUndefined.Instance;
                    var result = args.Count > 1
                        ? Test(ctx, JinjaInterpreter.ToText(args[1]), attr, args.Skip(2).ToList(), line)
                        : JinjaInterpreter.IsTrue(attr);
                    return result == keep;
                }).ToList();
            case "map" when kwargs.TryGetValue("attribute", out var mapAttr):
                return ctx.Iterate(value, line).Select(item =>
                    item is Dictionary<string, object?> d && d.TryGetValue(JinjaInterpreter.ToText(mapAttr), out var v) ? v : JinjaUndefined.Instance).ToList();
            default:
                throw ctx.Error(line, $"the filter '{name}' is not supported by RagTune's template interpreter.");
        }
    }

    public static bool Test(JinjaInterpreter ctx, string name, object? value, List<object?> args, int line) => name switch
    {
        "defined" => value is not JinjaUndefined,
        "undefined" => value is JinjaUndefined,
        "none" => value is null,
        "string" => value is string,
        "number" => value is long or double,
        "integer" => value is long,
        "float" => value is double,
        "boolean" => value is bool,
        "true" => value is true,
        "false" => value is false,
        "mapping" => value is Dictionary<string, object?>,
        "sequence" or "iterable" => value is string or List<object?> or Dictionary<string, object?>,
        "odd" => value is long o && o % 2 != 0,
        "even" => value is long e && e % 2 == 0,
        "divisibleby" => value is long n && args.Count == 1 && args[0] is long m && m != 0 && n % m == 0,
        "eq" or "equalto" or "==" or "sameas" => args.Count == 1 && JinjaInterpreter.AreEqual(value, args[0]),
        "ne" or "!=" => args.Count == 1 && !JinjaInterpreter.AreEqual(value, args[0]),
        "in" => args.Count == 1 && args[0] switch
        {
            string s => value is string sub && s.Contains(sub, StringComparison.Ordinal),
            List<object?> l => l.Any(x => JinjaInterpreter.AreEqual(x, value)),
            Dictionary<string, object?> d => value is string key && d.ContainsKey(key),
            _ => false,
        },
        _ => throw ctx.Error(line, $"the test 'is {name}' is not supported by RagTune's template interpreter."),
    };

    public static object? Function(JinjaInterpreter ctx, string name, List<object?> args, Dictionary<string, object?> kwargs, int line)
    {
        switch (name)
        {
            case "raise_exception":
                // Hugging Face's global: the template rejects the conversation with its own message.
                throw new ChatTemplateException(args.Count > 0 ? JinjaInterpreter.ToText(args[0]) : "raise_exception() called by the template.", raisedByTemplate: true);
            case "namespace":
                var ns = new JinjaNamespace();
                foreach (var (key, value) in kwargs)
                    ns.Values[key] = value;
                return ns;
            case "range":
                var numbers = args.Select(a => a is long l ? l : throw ctx.Error(line, "range() needs integers.")).ToArray();
                var (start, stop, step) = numbers.Length switch
                {
                    1 => (0L, numbers[0], 1L),
                    2 => (numbers[0], numbers[1], 1L),
                    3 => (numbers[0], numbers[1], numbers[2]),
                    _ => throw ctx.Error(line, "range() takes 1 to 3 arguments."),
                };
                if (step == 0)
                    throw ctx.Error(line, "range() step cannot be zero.");
                var list = new List<object?>();
                for (var i = start; step > 0 ? i < stop : i > stop; i += step)
                    list.Add(i);
                return list;
            case "dict":
                return new Dictionary<string, object?>(kwargs, StringComparer.Ordinal);
            default:
                throw ctx.Error(line, $"the function '{name}()' is not available to chat templates in RagTune (known: raise_exception, namespace, range, dict).");
        }
    }

    /// <summary>Python methods on strings and dicts (<c>content.strip()</c>, <c>message.get('x')</c>, <c>d.items()</c>).</summary>
    public static bool TryMethod(JinjaInterpreter ctx, object? target, string name, List<object?> args, int line, out object? result)
    {
        string? Text(int i) => i < args.Count ? args[i] as string : null;
        result = null;
        switch (target)
        {
            case string s:
                result = name switch
                {
                    "strip" => Text(0) is { } chars ? s.Trim(chars.ToCharArray()) : s.Trim(PythonWhitespace),
                    "lstrip" => Text(0) is { } chars ? s.TrimStart(chars.ToCharArray()) : s.TrimStart(PythonWhitespace),
                    "rstrip" => Text(0) is { } chars ? s.TrimEnd(chars.ToCharArray()) : s.TrimEnd(PythonWhitespace),
                    "upper" => s.ToUpperInvariant(),
                    "lower" => s.ToLowerInvariant(),
                    "title" => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(s.ToLowerInvariant()),
                    "capitalize" => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant(),
                    "startswith" => Text(0) is { } p && s.StartsWith(p, StringComparison.Ordinal),
                    "endswith" => Text(0) is { } p && s.EndsWith(p, StringComparison.Ordinal),
                    "replace" => s.Replace(Text(0) ?? "", Text(1) ?? "", StringComparison.Ordinal),
                    "split" => Text(0) is { } sep
                        ? s.Split(sep).Select(x => (object?)x).ToList()
                        : s.Split(PythonWhitespace, StringSplitOptions.RemoveEmptyEntries).Select(x => (object?)x).ToList(),
                    "find" => (long)s.IndexOf(Text(0) ?? "", StringComparison.Ordinal),
                    _ => Missing,
                };
                break;
            case Dictionary<string, object?> d:
                result = name switch
                {
                    "get" => args.Count > 0 && args[0] is string key && d.TryGetValue(key, out var v) ? v : args.Count > 1 ? args[1] : null,
                    "items" => d.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList(),
                    "keys" => d.Keys.Select(k => (object?)k).ToList(),
                    "values" => d.Values.ToList(),
                    _ => Missing,
                };
                break;
            case JinjaUndefined:
                throw ctx.Error(line, $"'{name}()' was called on an undefined value.");
            default:
                result = Missing;
                break;
        }
        if (ReferenceEquals(result, Missing))
        {
            result = null;
            return false;
        }
        return true;
    }

    private static readonly object Missing = new();

    /// <summary>What Python's <c>str.strip()</c> removes by default (ASCII whitespace and Unicode spaces).</summary>
    private static readonly char[] PythonWhitespace = [' ', '\t', '\n', '\r', '\v', '\f', '\u001c', '\u001d', '\u001e', '\u001f', '\u0085', '\u00a0', '\u1680', '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000'];

    private static string Str(JinjaInterpreter ctx, object? value, string filter, int line) => value switch
    {
        string s => s,
        JinjaUndefined => "",
        _ => filter is "trim" or "upper" or "lower" ? JinjaInterpreter.ToText(value) : throw ctx.Error(line, $"'{filter}' needs a string, not {JinjaInterpreter.TypeName(value)}."),
    };
}
