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
    [InlineData("Server:MaxRequestBodyBytes", "10", "MaxRequestBodyBytes")]
    [InlineData("Server:ModelsDir", "/no/such/dir", "ModelsDir")]
    [InlineData("Server:LogFormat", "xml", "LogFormat")]
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
