using RagTune.TestKit.Http;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using RagTune.TestKit;

namespace RagTune.Cli.Tests.Models;

/// <summary><c>model pull/list/rm</c> and <c>generate --remote</c>, run as a user runs them, against loopback servers.</summary>
public sealed class ModelCliTests
{
    private static readonly byte[] Payload = FakeFileServer.RandomBytes(200_000, 3);

    private static string TestCatalog(string dir)
    {
        var json = $$"""
        {"format": "ragtune-model-catalog", "version": 1, "models": [
          {"name": "tiny-chat", "kind": "chat", "repo": "test-owner/tiny-GGUF", "revision": "main", "format": "gguf", "licence": "MIT",
           "parameters": 1000, "context_length": 512, "chat_template": "chatml", "good_for": "tests", "default_variant": "q8_0", "notes": null,
           "variants": [{"type": "q8_0", "status": "supported", "supported_since": "0.1.0",
             "files": [{"path": "tiny-Q8_0.gguf", "size": {{Payload.Length}}, "sha256": "{{Convert.ToHexStringLower(SHA256.HashData(Payload))}}", "approx_size": null}]}]}
        ]}
        """;
        var path = Path.Combine(dir, "catalog.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public async Task Pull_list_and_rm_against_a_loopback_hub()
    {
        using var tmp = new TempDir();
        await using var server = new FakeFileServer();
        server.Files["/test-owner/tiny-GGUF/resolve/main/tiny-Q8_0.gguf"] = Payload;
        var models = Path.Combine(tmp.Path, "models");
        var env = new Dictionary<string, string>
        {
            ["RAGTUNE_CATALOG"] = TestCatalog(tmp.Path),
            ["RAGTUNE_HF_ENDPOINT"] = server.Root,
            ["RAGTUNE_MODELS_DIR"] = models,
        };

        var pull = CliEnvProcess.Run(env, "model", "pull", "tiny-chat");
        Assert.True(pull.ExitCode == 0, pull.Stderr);
        var path = Path.Combine(models, "tiny-chat", "q8_0", "tiny-Q8_0.gguf");
        Assert.Contains(path, pull.Stdout);
        Assert.Equal(Payload, File.ReadAllBytes(path));
        Assert.Contains("tiny-Q8_0.gguf", pull.Stderr); // plain progress lines when stderr is not a terminal
        Assert.Contains("done", pull.Stderr);

        var list = CliEnvProcess.Run(env, "model", "list");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("tiny-chat", list.Stdout);
        Assert.Contains("[cached]", list.Stdout);
        Assert.Contains("tiny-chat:q8_0", list.Stdout);
        Assert.Contains("195.3 KiB", list.Stdout);

        var missing = CliEnvProcess.Run(env, "model", "pull", "test-owner/tiny-GGUF:nope.gguf");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("not found (404)", missing.Stderr);

        var rm = CliEnvProcess.Run(env, "model", "rm", "tiny-chat");
        Assert.Equal(0, rm.ExitCode);
        Assert.False(Directory.Exists(Path.Combine(models, "tiny-chat")));
        Assert.Contains("(none)", CliEnvProcess.Run(env, "model", "list").Stdout);
    }

    [Fact]
    public void List_shows_the_built_in_catalog_with_planned_variants()
    {
        using var tmp = new TempDir();
        var r = CliEnvProcess.Run(new Dictionary<string, string> { ["RAGTUNE_MODELS_DIR"] = tmp.Path }, "model", "list", "--models-dir", tmp.Path);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("smollm2-135m-instruct", r.Stdout);
        Assert.Contains("ms-marco-minilm-l-6-v2", r.Stdout);
        Assert.Contains("(planned)", r.Stdout);
    }

    [Fact]
    public void Pull_with_the_hub_offline_says_so()
    {
        using var tmp = new TempDir();
        var port = LoopbackHttpServer.UnusedPort();
        var r = CliEnvProcess.Run(new Dictionary<string, string> { ["RAGTUNE_HF_ENDPOINT"] = $"http://127.0.0.1:{port}", ["RAGTUNE_MODELS_DIR"] = tmp.Path },
            "model", "pull", "test-owner/x-GGUF:x.gguf");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("cannot reach", r.Stderr);
    }

    [Fact]
    public async Task Generate_remote_streams_from_an_openai_compatible_server()
    {
        await using var server = new FakeOpenAIServer();
        var r = CliEnvProcess.Run(new Dictionary<string, string>(), "generate", "--remote", server.BaseUrl.AbsoluteUri, "--remote-model", "tiny-chat",
            "--prompt", "Say hello", "--temperature", "0", "--max-tokens", "12", "--stop", "END");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("Hello, world!", r.Stdout.TrimEnd());
        Assert.Contains("finish: stop", r.Stderr);
        var body = Assert.Single(server.Bodies("/v1/chat/completions"));
        Assert.True((bool)body["stream"]!);
        Assert.Equal("tiny-chat", (string)body["model"]!);
        Assert.Equal(0.0, (double)body["temperature"]!);
        Assert.Equal(["END"], body["stop"]!.AsArray().Select(s => (string)s!));
        Assert.Contains("Say hello", body["messages"]!.ToJsonString());
    }

    [Fact]
    public async Task Generate_remote_uses_named_endpoints_from_the_config_file()
    {
        using var tmp = new TempDir();
        await using var server = new FakeOpenAIServer { RequiredKey = "sk-test" };
        var config = Path.Combine(tmp.Path, "config.json");
        File.WriteAllText(config, new JsonObject
        {
            ["endpoints"] = new JsonObject
            {
                ["local-vllm"] = new JsonObject { ["url"] = server.BaseUrl.AbsoluteUri, ["model"] = "tiny-chat", ["api_key_env"] = "TEST_VLLM_KEY" },
            },
        }.ToJsonString());
        var env = new Dictionary<string, string> { ["RAGTUNE_CONFIG"] = config, ["TEST_VLLM_KEY"] = "sk-test" };

        var r = CliEnvProcess.Run(env, "generate", "--remote", "local-vllm", "--prompt", "hi");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("Hello, world!", r.Stdout.TrimEnd());

        var unknown = CliEnvProcess.Run(env, "generate", "--remote", "nope", "--prompt", "hi");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("neither a URL nor an endpoint", unknown.Stderr);

        var down = CliEnvProcess.Run(env, "generate", "--remote", $"http://127.0.0.1:{LoopbackHttpServer.UnusedPort()}/v1", "--remote-model", "m", "--prompt", "hi");
        Assert.Equal(1, down.ExitCode);
        Assert.Contains("is the server running?", down.Stderr);
    }
}
