using System.Security.Cryptography;
using System.Text.Json;
using RagTune.Engine.Models;
using RagTune.TestKit;

namespace RagTune.Cli.Tests;

/// <summary>The real CLI, run as a user runs it.</summary>
public sealed class CliCommandTests
{
    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    [Fact]
    public void Generate_streams_the_story_greedily_from_an_empty_prompt()
    {
        var r = CliProcess.Run("generate", "--model", Stories, "--prompt", "", "--temperature", "0", "--max-tokens", "30", "--threads", "2");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", r.Stdout);
        Assert.Matches(@"prompt: 1 tokens, [\d.]+ tokens/s \| generation: 30 tokens, [\d.]+ tokens/s", r.Stderr);
    }

    [Fact]
    public void Generate_accepts_token_ids_and_stop_strings()
    {
        var r = CliProcess.Run("generate", "--model", Stories, "--tokens", "1", "--temperature", "0", "--max-tokens", "60", "--stop", "Lily");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("Once upon a time, there was a little girl named", r.Stdout.TrimEnd());
        Assert.Contains("finish: Stop", r.Stderr);
    }

    [Fact]
    public void Generate_reads_the_llama2c_checkpoint_with_its_tokenizer()
    {
        var r = CliProcess.Run("generate", "--model", SharedData.File("models", "stories260k", "stories260K.bin"),
            "--tokenizer", SharedData.File("models", "stories260k", "tok512.bin"), "--temperature", "0", "--max-tokens", "30");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", r.Stdout);
    }

    [Fact]
    public void Inspect_reports_architecture_tensors_tokenizer_and_memory()
    {
        var r = CliProcess.Run("model", "inspect", Stories, "--tensors");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("GGUF v3", r.Stdout);
        Assert.Contains("architecture    llama", r.Stdout);
        Assert.Contains("context length  2048", r.Stdout);
        Assert.Contains("width 64, ffn 172, layers 5, heads 8, kv heads 4", r.Stdout);
        Assert.Contains("blk.0.attn_q.weight", r.Stdout);
        Assert.Contains("SentencePieceBpe, 512 tokens", r.Stdout);
        Assert.Contains("BOS 1 '<s>'", r.Stdout);
        Assert.Contains("KV cache", r.Stdout);
        Assert.Matches(@"parameters\s+2\d\d,\d\d\d", r.Stdout);
    }

    [Fact]
    public void Logits_as_json_equal_the_engine_in_process()
    {
        var r = CliProcess.Run("model", "logits", "--model", Stories, "--tokens", "1,403,407", "--json");
        Assert.Equal(0, r.ExitCode);
        var cli = JsonSerializer.Deserialize<float[]>(r.Stdout)!;
        using var model = TransformerModel.Load(Stories);
        using var session = new InferenceSession(model, new SessionOptions(16));
        session.Forward([1, 403, 407]);
        Assert.Equal(session.Logits.ToArray(), cli);
    }

    [Fact]
    public void Create_random_is_deterministic_and_the_result_runs()
    {
        using var dir = new TempDir();
        string a = dir.File("a.gguf"), b = dir.File("b.gguf"), c = dir.File("c.gguf");
        Assert.Equal(0, CliProcess.Run("model", "create-random", "--preset", "tiny", "--type", "q8_0", "--seed", "5", "--out", a).ExitCode);
        Assert.Equal(0, CliProcess.Run("model", "create-random", "--preset", "tiny", "--type", "q8_0", "--seed", "5", "--out", b).ExitCode);
        Assert.Equal(0, CliProcess.Run("model", "create-random", "--preset", "tiny", "--type", "q8_0", "--seed", "6", "--out", c).ExitCode);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(a)), SHA256.HashData(File.ReadAllBytes(b)));
        Assert.NotEqual(SHA256.HashData(File.ReadAllBytes(a)), SHA256.HashData(File.ReadAllBytes(c)));
        var gen = CliProcess.Run("generate", "--model", a, "--prompt", "hello world", "--max-tokens", "8", "--seed", "1");
        Assert.Equal(0, gen.ExitCode);
        Assert.Contains("generation: 8 tokens", gen.Stderr);
    }

    [Fact]
    public void Create_random_accepts_a_hugging_face_config()
    {
        using var dir = new TempDir();
        var config = dir.File("config.json");
        File.WriteAllText(config, """{"model_type":"llama","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"vocab_size":300,"max_position_embeddings":128,"rope_theta":10000.0,"rms_norm_eps":1e-6,"tie_word_embeddings":false}""");
        var r = CliProcess.Run("model", "create-random", "--config", config, "--type", "f16", "--out", dir.File("m.gguf"));
        Assert.Equal(0, r.ExitCode);
        var inspect = CliProcess.Run("model", "inspect", dir.File("m.gguf"));
        Assert.Contains("output          separate matrix", inspect.Stdout);
        Assert.Contains("rms eps 1E-06", inspect.Stdout);
    }

    [Fact]
    public void Bench_generate_reports_its_figures_as_json()
    {
        var r = CliProcess.Run("bench", "generate", "--model", TinyModels.Get("tiny", "q4_0"), "--prompt-tokens", "20", "--gen-tokens", "5", "--threads", "1", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.True(doc.RootElement.GetProperty("decode_tokens_per_second").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("peak_rss_mib").GetDouble() > 0);
    }

    [Fact]
    public void Bench_generate_measures_llama_cpp_on_the_same_file_and_prompt()
    {
        var r = CliProcess.Run(TimeSpan.FromSeconds(180), "bench", "generate", "--model", Stories, "--prompt-tokens", "24", "--gen-tokens", "6", "--threads", "1",
            "--reference", "llamacpp", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var ours = doc.RootElement.GetProperty("ragtune");
        var theirs = doc.RootElement.GetProperty("reference");
        Assert.Equal("stories260K.gguf", theirs.GetProperty("model").GetString());
        Assert.Equal((24, 6, 1), (theirs.GetProperty("prompt_tokens").GetInt32(), theirs.GetProperty("gen_tokens").GetInt32(), theirs.GetProperty("threads").GetInt32()));
        foreach (var side in new[] { ours, theirs })
            Assert.True(side.GetProperty("prefill_tokens_per_second").GetDouble() > 0 && side.GetProperty("decode_tokens_per_second").GetDouble() > 0);
        Assert.Equal(ours.GetProperty("prefill_tokens_per_second").GetDouble() / theirs.GetProperty("prefill_tokens_per_second").GetDouble(),
            doc.RootElement.GetProperty("prefill_ratio").GetDouble(), 9);
    }

    [Fact]
    public void Bench_train_reports_its_figures_beside_the_pytorch_reference_at_the_same_shape()
    {
        var r = CliProcess.Run(TimeSpan.FromSeconds(180), "bench", "train", "--model", TinyModels.Get("tiny-qwen2", "q8_0"), "--steps", "2", "--seq-len", "16",
            "--batch", "2", "--rank", "4", "--threads", "1", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("train_tokens_per_second").GetDouble() > 0);
        Assert.Equal(32 / root.GetProperty("step_seconds").GetDouble(), root.GetProperty("train_tokens_per_second").GetDouble(), 3);
        Assert.True(root.GetProperty("run_state_mib").GetDouble() > 0);
        Assert.Contains("\"qkv_bias\":true", root.GetProperty("shape").GetString());
        if (File.Exists("/usr/bin/python3") && root.GetProperty("reference").ValueKind == JsonValueKind.Null)
            Assert.Contains("torch", root.GetProperty("reference_skipped").GetString()); // python without torch: said, not hidden
        else if (root.GetProperty("reference").ValueKind != JsonValueKind.Null)
        {
            Assert.True(root.GetProperty("reference").GetProperty("train_tokens_per_second").GetDouble() > 0);
            Assert.True(root.GetProperty("tokens_per_second_over_reference").GetDouble() > 0);
        }

        var skipped = CliProcess.Run(TimeSpan.FromSeconds(120), "bench", "train", "--model", TinyModels.Get("tiny", "f32"), "--steps", "1", "--seq-len", "8",
            "--batch", "1", "--threads", "1", "--no-reference");
        Assert.True(skipped.ExitCode == 0, skipped.Stderr);
        Assert.Contains("pytorch reference skipped: --no-reference", skipped.Stdout);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("garbage")]
    [InlineData("empty")]
    public void A_bad_model_file_is_one_clear_error(string kind)
    {
        using var dir = new TempDir();
        var path = dir.File(kind + ".gguf");
        var good = File.ReadAllBytes(Stories);
        File.WriteAllBytes(path, kind switch
        {
            "truncated" => good[..(good.Length / 2)],
            "garbage" => Enumerable.Range(0, 5000).Select(i => (byte)(i * 37)).ToArray(),
            _ => [],
        });
        var r = CliProcess.Run(TimeSpan.FromSeconds(60), "generate", "--model", path, "--max-tokens", "4");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Contains(path, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr); // no stack trace
    }

    [Fact]
    public void A_prompt_longer_than_the_context_is_refused_with_advice()
    {
        var r = CliProcess.Run("generate", "--model", Stories, "--prompt", string.Join(' ', Enumerable.Repeat("the little dog ran", 40)), "--context", "32");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("context holds 32", r.Stderr);
    }

    [Fact]
    public void A_missing_tokenizer_is_one_clear_error()
    {
        using var dir = new TempDir();
        var bin = dir.File("model.bin");
        File.Copy(SharedData.File("models", "stories260k", "stories260K.bin"), bin);
        var r = CliProcess.Run("generate", "--model", bin, "--prompt", "hi");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--tokenizer", r.Stderr);
    }

    [Theory]
    [InlineData("--tokens", "1,x,3")]
    [InlineData("--temperature", "-2")]
    public void Bad_arguments_are_usage_errors(string option, string value)
    {
        var r = CliProcess.Run("generate", "--model", Stories, option, value, "--max-tokens", "2");
        Assert.NotEqual(0, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
    }

    [Fact]
    public void An_unsupported_type_for_create_random_lists_the_choices()
    {
        using var dir = new TempDir();
        var r = CliProcess.Run("model", "create-random", "--preset", "tiny", "--type", "q3_k", "--out", dir.File("x.gguf"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("q4_k, q5_k or q6_k", r.Stderr);
        Assert.False(File.Exists(dir.File("x.gguf")));
    }
}
