using System.Globalization;
using System.Text;

namespace RagTune.Tokenizers.ChatTemplates;

/// <summary>Tokenizes and parses one Jinja expression (the inside of <c>{{ }}</c> or of a tag after its keyword).</summary>
internal sealed class JinjaExpressionParser
{
    private static readonly string[] s_operators = ["**", "//", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "~", "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "="];

    private readonly List<(string Kind, string Text, object? Value)> _tokens = []; // Kind: name, num, str, op, end
    private readonly int _line;
    private readonly string _source;
    private int _pos;

    public JinjaExpressionParser(string text, int line, string source)
    {
        _line = line;
        _source = source;
        Tokenize(text);
    }

    private void Tokenize(string s)
    {
        for (var i = 0; i < s.Length;)
        {
            var c = s[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                var start = i;
                while (i < s.Length && (char.IsAsciiLetterOrDigit(s[i]) || s[i] == '_'))
                    i++;
                _tokens.Add(("name", s[start..i], null));
            }
            else if (char.IsAsciiDigit(c))
            {
                var start = i;
                while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '_'))
                    i++;
                var isFloat = i + 1 < s.Length && s[i] == '.' && char.IsAsciiDigit(s[i + 1]);
                if (isFloat)
                {
                    i++;
                    while (i < s.Length && char.IsAsciiDigit(s[i]))
                        i++;
                }
                var text = s[start..i].Replace("_", "", StringComparison.Ordinal);
                _tokens.Add(("num", text, isFloat ? (object)double.Parse(text, CultureInfo.InvariantCulture) : long.Parse(text, CultureInfo.InvariantCulture)));
            }
            else if (c is '\'' or '"')
            {
                var sb = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= s.Length)
                        throw Error("a string literal is not closed.");
                    var ch = s[i++];
                    if (ch == c)
                        break;
                    if (ch != '\\' || i >= s.Length)
                    {
                        sb.Append(ch);
                        continue;
                    }
                    // Python string escapes, as Jinja's lexer decodes them.
                    var esc = s[i++];
                    switch (esc)
                    {
                        case 'n': sb.Append('\n'); break;
                        case 't': sb.Append('\t'); break;
                        case 'r': sb.Append('\r'); break;
                        case '0': sb.Append('\0'); break;
                        case '\\' or '\'' or '"': sb.Append(esc); break;
                        case 'u' when i + 4 <= s.Length:
                            sb.Append((char)int.Parse(s.AsSpan(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                            i += 4;
                            break;
                        default: sb.Append('\\').Append(esc); break;
                    }
                }
                _tokens.Add(("str", "", sb.ToString()));
            }
            else
            {
                var op = s_operators.FirstOrDefault(o => string.CompareOrdinal(s, i, o, 0, o.Length) == 0)
                    ?? throw Error($"unexpected character '{c}'.");
                _tokens.Add(("op", op, null));
                i += op.Length;
            }
        }
        _tokens.Add(("end", "", null));
    }

    private (string Kind, string Text, object? Value) Peek(int ahead = 0) => _tokens[Math.Min(_pos + ahead, _tokens.Count - 1)];

    private bool IsOp(string op, int ahead = 0) => Peek(ahead) is ("op", var t, _) && t == op;

    private bool IsKeyword(string word, int ahead = 0) => Peek(ahead) is ("name", var t, _) && t == word;

    public bool TryTake(string op)
    {
        if (!IsOp(op))
            return false;
        _pos++;
        return true;
    }

    public bool TryKeyword(string word)
    {
        if (!IsKeyword(word))
            return false;
        _pos++;
        return true;
    }

    private void Expect(string op)
    {
        if (!TryTake(op))
            throw Error($"expected '{op}' but found '{Describe(Peek())}'.");
    }

    public void ExpectKeyword(string word)
    {
        if (!TryKeyword(word))
            throw Error($"expected '{word}' but found '{Describe(Peek())}'.");
    }

    public string ExpectName()
    {
        if (Peek() is not ("name", var name, _))
            throw Error($"expected a name but found '{Describe(Peek())}'.");
        _pos++;
        return name;
    }

    public void ExpectEnd()
    {
        if (Peek().Kind != "end")
            throw Error($"unexpected '{Describe(Peek())}' after the expression.");
    }

    private static string Describe((string Kind, string Text, object? Value) token) =>
        token.Kind switch { "end" => "end of tag", "str" => $"\"{token.Value}\"", _ => token.Text };

    public JinjaExpr ParseExpression()
    {
        var then = ParseOr();
        if (!TryKeyword("if"))
            return then;
        var condition = ParseOr();
        JinjaExpr? otherwise = TryKeyword("else") ? ParseExpression() : null;
        return new ConditionalExpr(_line, then, condition, otherwise);
    }

    public JinjaExpr ParseOr()
    {
        var left = ParseAnd();
        while (TryKeyword("or"))
            left = new BinaryExpr(_line, "or", left, ParseAnd());
        return left;
    }

    private JinjaExpr ParseAnd()
    {
        var left = ParseNot();
        while (TryKeyword("and"))
            left = new BinaryExpr(_line, "and", left, ParseNot());
        return left;
    }

    private JinjaExpr ParseNot() => TryKeyword("not") ? new UnaryExpr(_line, "not", ParseNot()) : ParseCompare();

    private JinjaExpr ParseCompare()
    {
        var left = ParseAdd();
        while (true)
        {
            if (Peek() is ("op", "==" or "!=" or "<" or ">" or "<=" or ">=", _))
            {
                var op = Peek().Text;
                _pos++;
                left = new BinaryExpr(_line, op, left, ParseAdd());
            }
            else if (IsKeyword("in"))
            {
                _pos++;
                left = new BinaryExpr(_line, "in", left, ParseAdd());
            }
            else if (IsKeyword("not") && IsKeyword("in", 1))
            {
                _pos += 2;
                left = new BinaryExpr(_line, "not in", left, ParseAdd());
            }
            else
            {
                return left;
            }
        }
    }

    private JinjaExpr ParseAdd()
    {
        var left = ParseConcat();
        while (Peek() is ("op", "+" or "-", _))
        {
            var op = Peek().Text;
            _pos++;
            left = new BinaryExpr(_line, op, left, ParseConcat());
        }
        return left;
    }

    private JinjaExpr ParseConcat()
    {
        var left = ParseMul();
        while (TryTake("~"))
            left = new BinaryExpr(_line, "~", left, ParseMul());
        return left;
    }

    private JinjaExpr ParseMul()
    {
        var left = ParseUnary();
        while (Peek() is ("op", "*" or "/" or "//" or "%", _))
        {
            var op = Peek().Text;
            _pos++;
            left = new BinaryExpr(_line, op, left, ParseUnary());
        }
        return left;
    }

    private JinjaExpr ParseUnary()
    {
        if (TryTake("-"))
            return new UnaryExpr(_line, "-", ParseUnary());
        if (TryTake("+"))
            return ParseUnary();
        return ParsePostfix(ParsePrimary());
    }

    private JinjaExpr ParsePrimary()
    {
        var token = Peek();
        _pos++;
        switch (token.Kind)
        {
            case "str":
                var text = (string)token.Value!;
                while (Peek().Kind == "str") // adjacent literals concatenate, as in Python
                    text += (string)_tokens[_pos++].Value!;
                return new LiteralExpr(_line, text);
            case "num":
                return new LiteralExpr(_line, token.Value);
            case "name":
                return token.Text switch
                {
                    "true" or "True" => new LiteralExpr(_line, true),
                    "false" or "False" => new LiteralExpr(_line, false),
                    "none" or "None" => new LiteralExpr(_line, null),
                    _ => new NameExpr(_line, token.Text),
                };
            case "op" when token.Text == "(":
                var inner = ParseExpression();
                if (IsOp(","))
                {
                    var items = new List<JinjaExpr> { inner };
                    while (TryTake(",") && !IsOp(")"))
                        items.Add(ParseExpression());
                    Expect(")");
                    return new ListExpr(_line, [.. items]); // tuples behave as lists here
                }
                Expect(")");
                return inner;
            case "op" when token.Text == "[":
                var list = new List<JinjaExpr>();
                while (!IsOp("]"))
                {
                    list.Add(ParseExpression());
                    if (!TryTake(","))
                        break;
                }
                Expect("]");
                return new ListExpr(_line, [.. list]);
            case "op" when token.Text == "{":
                var pairs = new List<(JinjaExpr, JinjaExpr)>();
                while (!IsOp("}"))
                {
                    var key = ParseExpression();
                    Expect(":");
                    pairs.Add((key, ParseExpression()));
                    if (!TryTake(","))
                        break;
                }
                Expect("}");
                return new DictExpr(_line, [.. pairs]);
            default:
                throw Error($"unexpected '{Describe(token)}'.");
        }
    }

    private JinjaExpr ParsePostfix(JinjaExpr node)
    {
        while (true)
        {
            if (TryTake("."))
            {
                node = Peek().Kind == "num"
                    ? new ItemExpr(_line, node, new LiteralExpr(_line, _tokens[_pos++].Value))
                    : new AttrExpr(_line, node, ExpectName());
            }
            else if (TryTake("["))
            {
                JinjaExpr? start = IsOp(":") ? null : ParseExpression();
                if (TryTake(":"))
                {
                    JinjaExpr? stop = IsOp(":") || IsOp("]") ? null : ParseExpression();
                    JinjaExpr? step = TryTake(":") && !IsOp("]") ? ParseExpression() : null;
                    Expect("]");
                    node = new SliceExpr(_line, node, start, stop, step);
                }
                else
                {
                    Expect("]");
                    node = new ItemExpr(_line, node, start!);
                }
            }
            else if (IsOp("("))
            {
                var (args, kwargs) = ParseArguments();
                node = new CallExpr(_line, node, args, kwargs);
            }
            else if (TryTake("|"))
            {
                var name = ExpectName();
                var (args, kwargs) = IsOp("(") ? ParseArguments() : ([], []);
                node = new FilterExpr(_line, node, name, args, kwargs);
            }
            else if (IsKeyword("is"))
            {
                _pos++;
                var negated = TryKeyword("not");
                var name = ExpectName();
                JinjaExpr[] args = [];
                if (IsOp("("))
                    args = ParseArguments().Args;
                else if (Peek().Kind is "str" or "num" || (Peek().Kind == "name" && !IsKeyword("and") && !IsKeyword("or") && !IsKeyword("else") && !IsKeyword("if")))
                    args = [ParsePostfixFree()];
                node = new TestExpr(_line, node, name, args, negated);
            }
            else
            {
                return node;
            }
        }
    }

    /// <summary>A test's single bare argument (<c>x is divisibleby 3</c>, <c>x is sameas none</c>).</summary>
    private JinjaExpr ParsePostfixFree() => ParsePrimary();

    private (JinjaExpr[] Args, (string, JinjaExpr)[] Kwargs) ParseArguments()
    {
        Expect("(");
        var args = new List<JinjaExpr>();
        var kwargs = new List<(string, JinjaExpr)>();
        while (!IsOp(")"))
        {
            if (Peek().Kind == "name" && IsOp("=", 1))
            {
                var name = ExpectName();
                _pos++;
                kwargs.Add((name, ParseExpression()));
            }
            else
            {
                args.Add(ParseExpression());
            }
            if (!TryTake(","))
                break;
        }
        Expect(")");
        return ([.. args], [.. kwargs]);
    }

    private ChatTemplateException Error(string problem) => new($"{_source}: line {_line}: {problem}");
}
