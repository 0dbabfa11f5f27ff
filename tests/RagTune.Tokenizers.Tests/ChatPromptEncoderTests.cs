using RagTune.Tokenizers.ChatTemplates;

namespace RagTune.Tokenizers.Tests;

public sealed class ChatPromptEncoderTests
{
    [Fact]
    public void Smol_chatml_prompt_gets_control_ids_and_no_bos()
    {
        var tok = ByteLevelBpeSmolLm2Tests.Smol;
        var encoder = new ChatPromptEncoder(tok);
        var selection = ChatTemplateResolver.Resolve(
            File.ReadAllText(TestKit.SharedData.Repo("dev", "reference", "chat_templates", "templates", "smollm2.jinja")), "smollm2", tok);
        Assert.False(selection.IsFallback);
        var text = selection.Template.Render([("user", "hi")], true, encoder.BosText, encoder.EosText);
        var ids = encoder.Encode(text);
        Assert.Equal(1, ids[0]); // <|im_start|> of the default system turn; SmolLM2 adds no BOS of its own
        Assert.Equal(tok.Encode(text, addBos: false), ids);
        Assert.Contains(2, encoder.TurnEndIds); // <|im_end|> is also SmolLM2's EOS
        Assert.Contains(0, encoder.TurnEndIds); // <|endoftext|>
    }

    [Fact]
    public void Sentencepiece_prompt_gets_bos_once()
    {
        var tok = SentencePieceTokenizerLlamaCTests.Tok512;
        var encoder = new ChatPromptEncoder(tok);
        var prompt = ChatTemplate.Plain.Render([("user", "Lily")], true, encoder.BosText, encoder.EosText);
        var ids = encoder.Encode(prompt);
        Assert.Equal(tok.BosId, ids[0]);
        Assert.Equal(tok.Encode(prompt, addBos: true), ids);
        // A template that writes the BOS text itself gets the BOS id, not literal "<s>" text, and no second BOS.
        var withBos = encoder.Encode(encoder.BosText + "User: Lily");
        Assert.Equal(tok.BosId, withBos[0]);
        Assert.NotEqual(tok.BosId, withBos[1]);
        Assert.Equal(1, withBos.Count(id => id == tok.BosId));
        Assert.Contains(tok.EosId, encoder.TurnEndIds);
    }
}
