using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Formats;

/// <summary>A file that is neither GGUF nor a plausible llama2.c checkpoint is refused as such, not misread as a broken llama2.c file.</summary>
public sealed class ModelFileProbeTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(string name, byte[] bytes)
    {
        var path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static ModelFormatException AssertRefused(string path, params string[] expected)
    {
        var e = Assert.Throws<ModelFormatException>(() => TransformerModel.Load(path).Dispose());
        Assert.Equal(path, e.FilePath);
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain("not a llama2.c v0", e.Message);
        foreach (var s in expected) Assert.Contains(s, e.Message, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    private static byte[] TinyGguf() => File.ReadAllBytes(TinyModels.Get("tiny", "f32"));

    [Fact]
    public void A_gguf_with_a_damaged_magic_names_its_first_bytes_and_the_accepted_formats()
    {
        var bytes = TinyGguf();
        bytes[3] = (byte)'E';
        AssertRefused(Write("bad-magic.gguf", bytes), "0x47475545", "\"GGUE", "Accepted: a GGUF file", "llama2.c v0 checkpoint", "Hugging Face folder", "damaged GGUF");
    }

    [Theory]
    [InlineData(0, "the file is empty")]
    [InlineData(1, "0x47 (\"G\")")]
    [InlineData(3, "0x474755")]
    [InlineData(20, "0x4747554503000000")]
    public void A_truncated_garbled_file_is_refused_with_its_length(int length, string expected)
    {
        var bytes = TinyGguf();
        bytes[3] = (byte)'E';
        AssertRefused(Write("cut.gguf", bytes[..length]), expected, $"{length} bytes in all");
    }

    [Fact]
    public void A_text_file_is_called_text() =>
        AssertRefused(Write("error.gguf", "{\"error\": \"not found\", \"status\": 404, \"detail\": \"gone\"}"u8.ToArray()), "text (JSON/HTML)");

    [Fact]
    public void Seeded_random_bytes_are_refused_never_misread()
    {
        var random = new Random(20);
        for (var i = 0; i < 200; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            var path = Write($"random-{i}.bin", bytes);
            var e = Assert.ThrowsAny<ModelFormatException>(() => TransformerModel.Load(path).Dispose());
            Assert.Contains(path, e.Message);
        }
    }

    [Fact]
    public void Real_checkpoints_still_go_to_their_readers()
    {
        Assert.Equal(ModelFileKind.Gguf, ModelFileProbe.Detect(TinyModels.Get("tiny", "f32")));
        Assert.Equal(ModelFileKind.LlamaC, ModelFileProbe.Detect(LlamaCCheckpointTests.Stories260KBin));
        using (var m = TransformerModel.Load(LlamaCCheckpointTests.Stories260KBin)) Assert.Null(m.Gguf);
        // A plausible llama2.c header with the wrong length keeps the llama2.c reader's precise message.
        var cut = File.ReadAllBytes(LlamaCCheckpointTests.Stories260KBin)[..1000];
        var e = Assert.Throws<ModelFormatException>(() => TransformerModel.Load(Write("cut.bin", cut)).Dispose());
        Assert.Contains("implies exactly", e.Message);
    }
}
