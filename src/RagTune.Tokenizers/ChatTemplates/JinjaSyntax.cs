using System.Globalization;
using System.Text;

namespace RagTune.Tokenizers.ChatTemplates;

// ── syntax tree ─────────────────────────────────────────────────────────────────────────────────────────────
// The subset of Jinja2 that real chat templates use. Expressions follow Jinja's precedence (jinja2/parser.py):
// conditional < or < and < not < comparisons < + - < ~ < * / // % < unary < postfix (. [] () | is).

internal abstract record JinjaExpr(int Line);
internal sealed record LiteralExpr(int Line, object? Value) : JinjaExpr(Line);
internal sealed record NameExpr(int Line, string Name) : JinjaExpr(Line);
internal sealed record AttrExpr(int Line, JinjaExpr Target, string Name) : JinjaExpr(Line);
internal sealed record ItemExpr(int Line, JinjaExpr Target, JinjaExpr Key) : JinjaExpr(Line);
internal sealed record SliceExpr(int Line, JinjaExpr Target, JinjaExpr? Start, JinjaExpr? Stop, JinjaExpr? Step) : JinjaExpr(Line);
internal sealed record CallExpr(int Line, JinjaExpr Callee, JinjaExpr[] Args, (string Name, JinjaExpr Value)[] Kwargs) : JinjaExpr(Line);
internal sealed record FilterExpr(int Line, JinjaExpr Target, string Name, JinjaExpr[] Args, (string Name, JinjaExpr Value)[] Kwargs) : JinjaExpr(Line);
internal sealed record TestExpr(int Line, JinjaExpr Target, string Name, JinjaExpr[] Args, bool Negated) : JinjaExpr(Line);
internal sealed record UnaryExpr(int Line, string Op, JinjaExpr Operand) : JinjaExpr(Line);
internal sealed record BinaryExpr(int Line, string Op, JinjaExpr Left, JinjaExpr Right) : JinjaExpr(Line);
internal sealed record ConditionalExpr(int Line, JinjaExpr Then, JinjaExpr Condition, JinjaExpr? Else) : JinjaExpr(Line);
internal sealed record ListExpr(int Line, JinjaExpr[] Items) : JinjaExpr(Line);
internal sealed record DictExpr(int Line, (JinjaExpr Key, JinjaExpr Value)[] Items) : JinjaExpr(Line);

internal abstract record JinjaNode(int Line);
internal sealed record TextNode(int Line, string Text) : JinjaNode(Line);
internal sealed record OutputNode(int Line, JinjaExpr Value) : JinjaNode(Line);
internal sealed record IfNode(int Line, (JinjaExpr Condition, JinjaNode[] Body)[] Branches, JinjaNode[]? Else) : JinjaNode(Line);
internal sealed record ForNode(int Line, string[] Targets, JinjaExpr Iterable, JinjaExpr? Filter, JinjaNode[] Body, JinjaNode[]? Else) : JinjaNode(Line);
internal sealed record SetNode(int Line, string Name, string? Attribute, JinjaExpr? Value, JinjaNode[]? Body) : JinjaNode(Line);
internal sealed record LoopControlNode(int Line, bool IsBreak) : JinjaNode(Line);

/// <summary>A template could not be parsed or rendered; the message names the template source and line.</summary>
public sealed class ChatTemplateException : Exception
{
    /// <summary>Creates an exception.</summary>
    public ChatTemplateException(string message, bool raisedByTemplate = false) : base(message) => RaisedByTemplate = raisedByTemplate;

    /// <summary>Creates an exception.</summary>
    public ChatTemplateException() : base("The chat template failed.") { }

    /// <summary>Creates an exception.</summary>
    public ChatTemplateException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>
    /// True when the template itself called <c>raise_exception(...)</c> (e.g. Gemma's "System role not supported"):
    /// the template works, it rejects this conversation. False for syntax and evaluation errors.
    /// </summary>
    public bool RaisedByTemplate { get; }
}

/// <summary>
/// Splits template text into text, <c>{{ }}</c> and <c>{% %}</c> pieces with Jinja's whitespace control as Hugging
/// Face configures it (<c>trim_blocks</c> and <c>lstrip_blocks</c> on): <c>-</c> markers strip all whitespace on
/// their side; a block or comment tag drops the first newline after it and the spaces/tabs before it on its line.
/// Then parses statements and expressions into the tree above.
/// </summary>
internal sealed class JinjaParser
{
    private enum PieceKind { Text, Output, Statement }

    private readonly record struct Piece(PieceKind Kind, string Content, int Line);

    private readonly string _source;
    private readonly List<Piece> _pieces = [];
    private int _next;

    private JinjaParser(string source) => _source = source;

    public static JinjaNode[] Parse(string template, string source)
    {
        var parser = new JinjaParser(source);
        parser.Lex(template);
        var body = parser.ParseBlock(out var end);
        if (end is not null)
            throw parser.Error(end.Value.Line, $"unexpected '{{% {end.Value.Content} %}}' with no open block.");
        return body;
    }

    // ── lexing ──

    private void Lex(string t)
    {
        var pos = 0;
        var line = 1;
        var stripNextLeading = false;
        var dropNextNewline = false;
        while (pos < t.Length)
        {
            var open = IndexOfTag(t, pos);
            var raw = t[pos..(open < 0 ? t.Length : open)];
            var chunk = raw;
            if (dropNextNewline)
            {
                if (chunk.StartsWith("\r\n", StringComparison.Ordinal)) chunk = chunk[2..];
                else if (chunk.StartsWith('\n')) chunk = chunk[1..];
            }
            if (stripNextLeading)
                chunk = chunk.TrimStart();
            dropNextNewline = stripNextLeading = false;
            if (open < 0)
            {
                Emit(PieceKind.Text, chunk, line);
                break;
            }
            var kind = t[open + 1];
            var close = kind switch { '{' => "}}", '%' => "%}", _ => "#}" };
            var end = t.IndexOf(close, open + 2, StringComparison.Ordinal);
            if (end < 0)
                throw Error(line + Count(t, pos, open), $"'{t.Substring(open, 2)}' is never closed with '{close}'.");
            var inner = t[(open + 2)..end];
            var isBlock = kind != '{';
            if (inner.StartsWith('-'))
            {
                chunk = chunk.TrimEnd();
                inner = inner[1..];
            }
            else if (inner.StartsWith('+'))
            {
                inner = inner[1..];
            }
            else if (isBlock)
            {
                // lstrip_blocks: remove the spaces and tabs between the line start (in the source) and the tag.
                var tail = raw.Length - raw.AsSpan().TrimEnd(" \t").Length;
                var atLineStart = tail < raw.Length ? raw[^(tail + 1)] == '\n' : pos == 0;
                if (atLineStart && tail > 0)
                    chunk = chunk[..Math.Max(0, chunk.Length - tail)];
            }
            if (inner.EndsWith('-'))
            {
                inner = inner[..^1];
                stripNextLeading = true;
            }
            else if (isBlock)
            {
                dropNextNewline = true; // trim_blocks
            }
            Emit(PieceKind.Text, chunk, line);
            var tagLine = line + Count(t, pos, open);
            line = tagLine + Count(t, open, end);
            if (kind == '{')
                Emit(PieceKind.Output, inner.Trim(), tagLine);
            else if (kind == '%')
                Emit(PieceKind.Statement, inner.Trim(), tagLine);
            pos = end + 2;
            if (kind == '%' && inner.Trim() == "raw")
            {
                var endRaw = t.IndexOf("{% endraw %}", pos, StringComparison.Ordinal);
                if (endRaw < 0)
                    throw Error(tagLine, "'{% raw %}' is never closed with '{% endraw %}'.");
                _pieces.RemoveAt(_pieces.Count - 1);
                Emit(PieceKind.Text, t[pos..endRaw], tagLine);
                pos = endRaw + "{% endraw %}".Length;
            }
        }

        static int Count(string t, int from, int to) => t.AsSpan(from, to - from).Count('\n');
    }

    private static int IndexOfTag(string t, int from)
    {
        for (var i = t.IndexOf('{', from); i >= 0 && i + 1 < t.Length; i = t.IndexOf('{', i + 1))
        {
            if (t[i + 1] is '{' or '%' or '#')
                return i;
        }
        return -1;
    }

    private void Emit(PieceKind kind, string content, int line)
    {
        if (kind == PieceKind.Text && content.Length == 0)
            return;
        _pieces.Add(new Piece(kind, content, line));
    }

    // ── statements ──

    /// <summary>Parses nodes until a statement that closes or continues a block; returns that statement in <paramref name="end"/>.</summary>
    private JinjaNode[] ParseBlock(out Piece? end)
    {
        var nodes = new List<JinjaNode>();
        while (_next < _pieces.Count)
        {
            var piece = _pieces[_next++];
            switch (piece.Kind)
            {
                case PieceKind.Text:
                    nodes.Add(new TextNode(piece.Line, piece.Content));
                    break;
                case PieceKind.Output:
                    nodes.Add(new OutputNode(piece.Line, ParseExpression(piece.Content, piece.Line)));
                    break;
                default:
                    var keyword = FirstWord(piece.Content);
                    switch (keyword)
                    {
                        case "if":
                            nodes.Add(ParseIf(piece));
                            break;
                        case "for":
                            nodes.Add(ParseFor(piece));
                            break;
                        case "set":
                            nodes.Add(ParseSet(piece));
                            break;
                        case "generation" or "endgeneration":
                            break; // transformers' assistant-mask markers: no output of their own
                        case "break" or "continue":
                            nodes.Add(new LoopControlNode(piece.Line, keyword == "break"));
                            break;
                        case "elif" or "else" or "endif" or "endfor" or "endset":
                            end = piece;
                            return [.. nodes];
                        default:
                            throw Error(piece.Line, $"the tag '{{% {keyword} %}}' is not supported by RagTune's template interpreter (supported: if/elif/else, for, set, break, continue, raw, generation).");
                    }
                    break;
            }
        }
        end = null;
        return [.. nodes];
    }

    private IfNode ParseIf(Piece open)
    {
        var branches = new List<(JinjaExpr, JinjaNode[])>();
        var condition = ParseExpression(open.Content["if".Length..], open.Line);
        while (true)
        {
            var body = ParseBlock(out var end);
            branches.Add((condition, body));
            var word = end is { } e ? FirstWord(e.Content) : null;
            if (word == "elif")
            {
                condition = ParseExpression(end!.Value.Content["elif".Length..], end.Value.Line);
                continue;
            }
            JinjaNode[]? elseBody = null;
            if (word == "else")
            {
                elseBody = ParseBlock(out end);
                word = end is { } e2 ? FirstWord(e2.Content) : null;
            }
            if (word != "endif")
                throw Error(open.Line, "'{% if %}' is not closed with '{% endif %}'.");
            return new IfNode(open.Line, [.. branches], elseBody);
        }
    }

    private ForNode ParseFor(Piece open)
    {
        var tokens = new JinjaExpressionParser(open.Content["for".Length..], open.Line, _source);
        var targets = new List<string> { tokens.ExpectName() };
        while (tokens.TryTake(","))
            targets.Add(tokens.ExpectName());
        tokens.ExpectKeyword("in");
        var iterable = tokens.ParseOr(); // no conditional expression here: a trailing "if" filters the loop
        JinjaExpr? filter = null;
        if (tokens.TryKeyword("if"))
            filter = tokens.ParseOr();
        tokens.ExpectEnd();
        var body = ParseBlock(out var end);
        JinjaNode[]? elseBody = null;
        if (end is { } e && FirstWord(e.Content) == "else")
            elseBody = ParseBlock(out end);
        if (end is not { } close || FirstWord(close.Content) != "endfor")
            throw Error(open.Line, "'{% for %}' is not closed with '{% endfor %}'.");
        return new ForNode(open.Line, [.. targets], iterable, filter, body, elseBody);
    }

    private SetNode ParseSet(Piece open)
    {
        var tokens = new JinjaExpressionParser(open.Content["set".Length..], open.Line, _source);
        var name = tokens.ExpectName();
        string? attribute = null;
        if (tokens.TryTake("."))
            attribute = tokens.ExpectName();
        if (tokens.TryTake("="))
        {
            var value = tokens.ParseExpression();
            tokens.ExpectEnd();
            return new SetNode(open.Line, name, attribute, value, null);
        }
        tokens.ExpectEnd();
        var body = ParseBlock(out var end); // {% set x %}…{% endset %}
        if (end is not { } close || FirstWord(close.Content) != "endset")
            throw Error(open.Line, "block '{% set %}' is not closed with '{% endset %}'.");
        return new SetNode(open.Line, name, attribute, null, body);
    }

    private JinjaExpr ParseExpression(string text, int line)
    {
        var parser = new JinjaExpressionParser(text, line, _source);
        var expr = parser.ParseExpression();
        parser.ExpectEnd();
        return expr;
    }

    private static string FirstWord(string content)
    {
        var i = 0;
        while (i < content.Length && (char.IsAsciiLetterOrDigit(content[i]) || content[i] == '_'))
            i++;
        return content[..i];
    }

    private ChatTemplateException Error(int line, string problem) => new($"{_source}: line {line}: {problem}");
}
