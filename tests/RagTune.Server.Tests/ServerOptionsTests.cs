namespace RagTune.Server.Tests;

public sealed class ServerOptionsTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("192.168.1.20")]
    public void Non_loopback_host_without_api_key_refuses_to_start(string host)
    {
        var e = Assert.Throws<ServerOptionsException>(() => RagTuneServer.Build([], new Dictionary<string, string?> { ["Server:Host"] = host }, new ModelRegistry()));
        Assert.Contains("without an API key", e.Message);
        Assert.Contains("--api-key", e.Message);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    [InlineData("::1")]
    public void Loopback_needs_no_key(string host) => new ServerOptions { Host = host }.Validate();

    [Fact]
    public void Non_loopback_with_key_is_valid() => new ServerOptions { Host = "0.0.0.0", ApiKey = "a-long-enough-key" }.Validate();

    [Theory]
    [InlineData("Server:Port", "70000", "Port")]
    [InlineData("Server:Host", "not a host", "Host")]
    [InlineData("Server:MaxConcurrentRequests", "0", "MaxConcurrentRequests")]
    [InlineData("Server:QueueLimit", "-1", "QueueLimit")]
    [InlineData("Server:Slots", "0", "Slots")]
    [InlineData("Server:Slots", "65", "Slots")]
    [InlineData("Server:MaxRequestBodyBytes", "10", "MaxRequestBodyBytes")]
    [InlineData("Server:ModelsDir", "/no/such/dir", "ModelsDir")]
    [InlineData("Server:LogFormat", "xml", "LogFormat")]
    [InlineData("Server:RagSources", "0", "RagSources")]
    [InlineData("Server:Adapters:0", "no-folder-given", "Server:Adapters:0")]
    [InlineData("RagTune:MaxUploadBytes", "100", "RagTune:MaxUploadBytes")]
    [InlineData("RagTune:MaxConcurrentJobs", "0", "RagTune:MaxConcurrentJobs")]
    public void Invalid_settings_name_the_setting(string key, string value, string name)
    {
        var e = Assert.Throws<ServerOptionsException>(() => RagTuneServer.Build([], new Dictionary<string, string?> { [key] = value }, new ModelRegistry()));
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public async Task Settings_bind_from_configuration_and_command_line_wins()
    {
        await using var app = RagTuneServer.Build(["--Server:QueueLimit=3"],
            new Dictionary<string, string?> { ["Server:Port"] = "0", ["Server:QueueLimit"] = "9", ["Server:Models:0"] = "ignored-when-a-registry-is-given" }, new ModelRegistry());
        var options = (ServerOptions)app.Services.GetService(typeof(ServerOptions))!;
        Assert.Equal(0, options.Port);
        Assert.Equal(3, options.QueueLimit);
        Assert.Equal("127.0.0.1", options.Host);
        Assert.Equal(["ignored-when-a-registry-is-given"], options.Models);
    }

    [Fact]
    public void Missing_model_file_is_a_clear_error()
    {
        var e = Assert.Throws<ServerOptionsException>(() => RagTuneServer.Build([], new Dictionary<string, string?> { ["Server:Models:0"] = "/no/model.gguf" }));
        Assert.Contains("/no/model.gguf", e.Message);
    }
}

public sealed class ModelLoadingTests
{
    [Fact]
    public async Task Models_dir_and_model_files_are_loaded_as_local_chat_clients()
    {
        using var dir = new RagTune.TestKit.TempDir();
        File.Copy(RagTune.TestKit.TinyModels.Get("tiny", "q8_0"), dir.File("tiny-a.gguf"));
        File.Copy(RagTune.TestKit.TinyModels.Get("tiny", "q8_0", seed: 2), dir.File("tiny-b.gguf"));
        var extra = RagTune.TestKit.SharedData.File("models", "stories260k", "stories260K.gguf");
        await using var app = RagTuneServer.Build([], new Dictionary<string, string?>
        {
            ["Server:Port"] = "0",
            ["Server:Threads"] = "1",
            ["Server:ModelsDir"] = dir.Path,
            ["Server:Models:0"] = extra,
            ["Logging:LogLevel:Default"] = "Warning",
        });
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(RagTuneServer.Addresses(app).Single()) };
        var ids = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/v1/models")).RootElement.GetProperty("data")
            .EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
        Assert.Equal(["stories260K", "tiny-a", "tiny-b"], ids);
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"tiny-b","max_tokens":3,"temperature":0,"messages":[{"role":"user","content":"hi"}]}""", System.Text.Encoding.UTF8, "application/json"));
        var usage = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("usage");
        Assert.InRange(usage.GetProperty("completion_tokens").GetInt32(), 1, 3);
        await app.StopAsync();
    }

    [Fact]
    public void Two_models_with_one_id_are_refused()
    {
        var path = RagTune.TestKit.TinyModels.Get("tiny", "q8_0");
        var e = Assert.Throws<ArgumentException>(() => RagTuneServer.Build([], new Dictionary<string, string?>
        {
            ["Server:Port"] = "0",
            ["Server:Threads"] = "1",
            ["Server:Models:0"] = path,
            ["Server:Models:1"] = path,
        }));
        Assert.Contains("share the id", e.Message);
    }
}
