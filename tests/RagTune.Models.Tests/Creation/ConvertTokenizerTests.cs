using RagTune.Engine.Tensors;
using RagTune.Models.Creation;
using RagTune.Models.Local;
using RagTune.TestKit;
using RagTune.Tokenizers;

namespace RagTune.Models.Tests.Creation;

/// <summary>A Hugging Face folder converted to GGUF carries its tokenizer and chat template in the metadata.</summary>
public sealed class ConvertTokenizerTests
{
    [Fact]
    public void The_converted_gguf_tokenizes_exactly_like_the_folders_tokenizer_json()
    {
        using var dir = new TempDir();
        var folder = Path.Combine(dir.Path, "smol-shaped");
        // The tiny shape with SmolLM2's vocabulary size, so its real tokenizer.json fits the embedding rows.
        var preset = new ModelPreset("tiny-smol-vocab", ModelPresets.Get("tiny").Config with { VocabSize = 49152 }, true, "test");
        RandomModelWriter.WriteHuggingFace(preset, GgmlType.F32, 1, folder);
        var tokenizerJson = SharedData.File("tokenizers", "smollm2-135m-instruct", "tokenizer.json");
        File.Copy(tokenizerJson, Path.Combine(folder, "tokenizer.json"));
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"),
            """{"chat_template": "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"}""");

        var gguf = dir.File("converted.gguf");
        var result = GgufConverter.Convert(folder, GgmlType.Q8_0, gguf);
        Assert.DoesNotContain(result.Warnings, w => w.Contains("tokenizer", StringComparison.Ordinal));

        using var converted = LocalModel.Load(gguf);
        Assert.Contains("(metadata)", converted.TokenizerSource);
        var reference = ByteLevelBpeTokenizer.FromTokenizerJson(tokenizerJson, padToVocabSize: 49152);
        string[] texts =
        [
            "Hello, world! RAG or fine-tuning?",
            "def f(x):\n    return x**2  # 12345 67890",
            "naïve café — 東京 🦙 tabs\tand   spaces",
            "<|im_start|>user\nhi<|im_end|>",
        ];
        foreach (var text in texts)
            Assert.Equal(reference.Encode(text, addBos: false), converted.Tokenizer.Encode(text, addBos: false));
        Assert.Equal(reference.EosId, converted.Tokenizer.EosId);

        var template = TokenizerLoader.ResolveChatTemplate(converted.Engine, converted.Tokenizer, null);
        Assert.Null(template.Warning);
        Assert.Contains("<|im_start|>", template.Template.Text);
    }
}
