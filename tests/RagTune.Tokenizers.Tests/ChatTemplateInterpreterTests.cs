using RagTune.Tokenizers.ChatTemplates;

namespace RagTune.Tokenizers.Tests;

/// <summary>The Jinja subset itself (expected strings checked by hand against jinja2 semantics) and the bad-input paths.</summary>
public sealed class ChatTemplateInterpreterTests
{
    private static readonly (string, string)[] s_chat = [("system", "S"), ("user", "U1"), ("assistant", "A1"), ("user", "U2")];

    private static string Render(string template, IReadOnlyList<(string, string)>? messages = null, bool gen = false) =>
        ChatTemplate.Parse(template, "test").Render(messages ?? s_chat, gen, "<s>", "</s>");

    [Theory]
    [InlineData("{% for m in messages %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
        "01TrueFalse4|12FalseFalse4|23FalseFalse4|34FalseTrue4|")]
    [InlineData("{% for m in messages[1:] %}{{ m.role[0] }}{% endfor %}{{ messages[-1]['content'] }}{{ messages[::2] | length }}", "uauU22")]
    [InlineData("{% set ns = namespace(n=0) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.n = ns.n + 1 %}{% endif %}{% endfor %}{{ ns.n }}", "2")]
    [InlineData("{% set x = 1 %}{% for m in messages %}{% set x = 5 %}{% endfor %}{{ x }}", "1")] // loop scope does not leak
    [InlineData("{% if foo is defined %}a{% elif messages is defined and not foo %}b{% else %}c{% endif %}", "b")]
    [InlineData("{{ 'x' if 'U' in messages[1].content else 'y' }}{{ 'z' if 'user' not in ['a'] }}{{ 3 % 2 }}{{ -7 // 2 }}{{ 7 / 2 }}", "xz1-43.5")]
    [InlineData("{{ '  a b  ' | trim | upper }}{{ 'hELLO' | capitalize }}{{ 'Ab' | lower }}{{ messages | length }}{{ '  q '.strip() }}", "A BHelloab4q")]
    [InlineData("{{ none }}{{ true }}{{ undefinedthing }}{{ 1 ~ 'a' ~ none }}{{ [1, 'a'] }}", "NoneTrue1aNone[1, 'a']")]
    [InlineData("{{ {'k': 'v\"', 'n': [1, true, none]} | tojson }}", "{\"k\": \"v\\\"\", \"n\": [1, true, null]}")]
    [InlineData("{% for m in messages if m.role != 'system' %}{{ m.content }}{% else %}empty{% endfor %}", "U1A1U2")]
    [InlineData("{% for m in [] %}x{% else %}empty{% endfor %}{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}", "emptya=1")]
    [InlineData("{% for m in messages %}{% if loop.index0 == 2 %}{% break %}{% endif %}{% if m.role == 'system' %}{% continue %}{% endif %}{{ m.content }}{% endfor %}", "U1")]
    [InlineData("{{ messages[0].get('role') }}{{ messages[0].get('x', 'd') }}{{ messages[0].nothing | default('dflt') }}{{ 'a,b'.split(',') | join('+') }}", "systemddflta+b")]
    [InlineData("{% raw %}{{ not parsed }}{% endraw %}", "{{ not parsed }}")]
    [InlineData("{# comment #}a\n  {%- if true -%}\n  b  \n{%- endif %}", "ab")]
    [InlineData("  {% if true %}\n  x\n  {% endif %}\ny", "  x\ny")] // trim_blocks + lstrip_blocks
    [InlineData("{% set block %}in{{ 1 + 1 }}{% endset %}{{ block }}", "in2")]
    [InlineData("{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}", "A1")]
    public void Evaluates_jinja_subset(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Fact]
    public void Raise_exception_is_marked_as_raised_by_the_template()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{{ raise_exception('No system!') }}"));
        Assert.True(e.RaisedByTemplate);
        Assert.Equal("No system!", e.Message);
    }

    [Theory]
    [InlineData("{% macro m() %}x{% endmacro %}", "macro")]
    [InlineData("{{ messages | wordcount }}", "wordcount")]
    [InlineData("{{ strftime_now('%d') }}", "strftime_now")]
    [InlineData("{% if x %}never closed", "endif")]
    [InlineData("{{ 'unterminated }}", "not closed")]
    [InlineData("{{ messages[0]['role'] + 1 }}", "cannot add")]
    [InlineData("{{ nothing.attr.deeper }}", "undefined")]
    public void Unsupported_or_broken_templates_fail_with_a_clear_message(string template, string mentioned)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(template));
        Assert.False(e.RaisedByTemplate);
        Assert.Contains(mentioned, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("test: line 1:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolver_falls_back_to_chatml_when_vocab_has_im_start()
    {
        var selection = ChatTemplateResolver.Resolve("{% macro x() %}{% endmacro %}", "m.gguf", ByteLevelBpeSmolLm2Tests.Smol);
        Assert.True(selection.IsFallback);
        Assert.Same(ChatTemplate.ChatMl, selection.Template);
        Assert.Contains("macro", selection.Warning, StringComparison.Ordinal);
        Assert.Contains("ChatML", selection.Warning, StringComparison.Ordinal);
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
            selection.Template.Render([("user", "hi")], true, "", ""));
    }

    [Fact]
    public void Resolver_falls_back_to_plain_without_chat_tokens()
    {
        var selection = ChatTemplateResolver.Resolve(null, "stories.bin", SentencePieceTokenizerLlamaCTests.Tok512);
        Assert.True(selection.IsFallback);
        Assert.Same(ChatTemplate.Plain, selection.Template);
        Assert.Contains("no chat template", selection.Warning, StringComparison.Ordinal);
        Assert.Equal("System: Be brief.\nUser: hi\nAssistant:",
            selection.Template.Render([("system", "Be brief."), ("user", "hi")], true, "", ""));
    }

    [Fact]
    public void Resolver_keeps_a_working_template_even_if_it_rejects_some_conversations()
    {
        var gemma = File.ReadAllText(TestKit.SharedData.Repo("dev", "reference", "chat_templates", "templates", "gemma.jinja"));
        var selection = ChatTemplateResolver.Resolve(gemma, "gemma.gguf", vocabHasImStart: false, "<bos>", "<eos>");
        Assert.False(selection.IsFallback);
        Assert.Null(selection.Warning);
        // Gemma rejects a system turn; RenderFoldingSystem folds it into the first user turn instead.
        Assert.Equal("<bos><start_of_turn>user\nBe brief.\n\nhi<end_of_turn>\n<start_of_turn>model\n",
            selection.Template.RenderFoldingSystem([("system", "Be brief."), ("user", "hi")], true, "<bos>", "<eos>"));
    }

    [Fact]
    public void Reads_chat_template_from_tokenizer_config()
    {
        var dir = Directory.CreateTempSubdirectory("ragtune-tpl-").FullName;
        try
        {
            var path = Path.Combine(dir, "tokenizer_config.json");
            File.WriteAllText(path, """{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}""");
            Assert.Equal("D", ChatTemplate.ReadFromTokenizerConfig(path));
            File.WriteAllText(path, """{"chat_template": "{{ x }}"}""");
            Assert.Equal("{{ x }}", ChatTemplate.ReadFromTokenizerConfig(path));
            File.WriteAllText(path, """{"bos_token": "<s>"}""");
            Assert.Null(ChatTemplate.ReadFromTokenizerConfig(path));
            File.WriteAllText(path, """{"chat_template": 3}""");
            Assert.Throws<TokenizerFormatException>(() => ChatTemplate.ReadFromTokenizerConfig(path));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
