using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace RagTune.Server.Tests.Api;

public sealed class ApiSecurityTests
{
    private const string Key = "test-key-0123456789";

    [Fact]
    public async Task The_api_needs_the_key_when_one_is_set_but_the_page_does_not()
    {
        await using var api = await ApiServer.StartAsync(("Server:ApiKey", Key));
        var missing = await api.JsonAsync(await api.Http.GetAsync("/api/collections"), HttpStatusCode.Unauthorized);
        Assert.Equal("invalid_api_key", missing.GetProperty("error").GetProperty("code").GetString());
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/jobs") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "wrong-key-0000") } };
        await api.JsonAsync(await api.Http.SendAsync(wrong), HttpStatusCode.Unauthorized);
        using var events = new HttpRequestMessage(HttpMethod.Get, "/api/jobs/any/events");
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.Http.SendAsync(events)).StatusCode);

        api.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        await api.JsonAsync(await api.Http.GetAsync("/api/collections"), HttpStatusCode.OK);

        api.Http.DefaultRequestHeaders.Authorization = null;
        var page = await api.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal(HttpStatusCode.OK, (await api.Http.GetAsync("/ui/app.js")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.Http.GetAsync("/ui/../../etc/passwd")).StatusCode);
    }

    [Fact]
    public async Task An_oversized_upload_gets_413_and_is_not_stored()
    {
        await using var api = await ApiServer.StartAsync(("RagTune:MaxUploadBytes", "4096"));
        await api.JsonAsync(await api.PostJsonAsync("/api/collections", new { name = "docs" }), HttpStatusCode.Created);
        var big = new string('x', 10_000);
        var refused = await api.JsonAsync(await api.Http.PostAsync("/api/collections/docs/documents", ApiServer.Files(("big.txt", big))), HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("MaxUploadBytes", refused.GetProperty("error").GetProperty("message").GetString());

        // Without Content-Length the server counts as it reads, and still answers 413.
        var chunked = ApiServer.Files(("small.txt", "fits"), ("big.txt", new string('y', 6_000)));
        await chunked.LoadIntoBufferAsync();
        var stream = new StreamContent(await chunked.ReadAsStreamAsync());
        stream.Headers.ContentType = chunked.Headers.ContentType;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/collections/docs/documents") { Content = stream };
        request.Headers.TransferEncodingChunked = true;
        await api.JsonAsync(await api.Http.SendAsync(request), HttpStatusCode.RequestEntityTooLarge);
        Assert.False(File.Exists(Path.Combine(api.DataDir, "uploads", "docs", "big.txt")));
        Assert.Empty(Directory.GetFiles(api.DataDir, "*.part", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Traversing_file_names_cannot_leave_the_data_directory()
    {
        await using var api = await ApiServer.StartAsync();
        await api.JsonAsync(await api.PostJsonAsync("/api/collections", new { name = "docs" }), HttpStatusCode.Created);
        var saved = await api.JsonAsync(await api.Http.PostAsync("/api/collections/docs/documents", ApiServer.Files(("../../x.txt", "escaped?"))), HttpStatusCode.Accepted);
        Assert.Equal("x.txt", saved.GetProperty("files")[0].GetProperty("name").GetString());
        Assert.Equal("escaped?", File.ReadAllText(Path.Combine(api.DataDir, "uploads", "docs", "x.txt")));
        await api.FinalAsync(saved.GetProperty("job").GetProperty("id").GetString()!);

        var noType = await api.JsonAsync(await api.Http.PostAsync("/api/collections/docs/documents", ApiServer.Files(("../../x", "no extension"))), HttpStatusCode.BadRequest);
        Assert.Equal("file", noType.GetProperty("error").GetProperty("param").GetString());
        await api.JsonAsync(await api.Http.PostAsync("/api/collections/docs/documents", ApiServer.Files(("..", "dots only"))), HttpStatusCode.BadRequest);
        await api.JsonAsync(await api.Http.PostAsync("/api/datasets", ApiServer.Files(("../../../train.jsonl", "{}"))), HttpStatusCode.Created);
        Assert.True(File.Exists(Path.Combine(api.DataDir, "datasets", "train.jsonl")));

        // Every file the server wrote lies inside the data directory.
        var outside = Directory.GetFiles(api.Root, "*", SearchOption.AllDirectories).Where(f => !f.StartsWith(api.DataDir + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        Assert.Empty(outside);
    }

    [Fact]
    public async Task Requests_beyond_the_concurrency_limit_get_429()
    {
        await using var api = await ApiServer.StartAsync(("Server:MaxConcurrentRequests", "1"), ("Server:QueueLimit", "0"));
        await api.JsonAsync(await api.PostJsonAsync("/api/collections", new { name = "docs" }), HttpStatusCode.Created);
        // An upload whose body is held open occupies the only slot until the gate opens.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = api.Http.PostAsync("/api/collections/docs/documents", new HeldUpload(gate.Task));
        HttpResponseMessage? busy = null;
        for (int i = 0; i < 400 && busy == null; i++)
        {
            var r = await api.Http.GetAsync("/api/collections");
            if (r.StatusCode == HttpStatusCode.TooManyRequests) busy = r;
            else await Task.Delay(25);
        }
        Assert.True(busy != null, held.IsCompleted ? $"the held upload ended: {(await held).StatusCode} {await (await held).Content.ReadAsStringAsync()}" : "no 429 while the upload was held");
        var error = await api.JsonAsync(busy, HttpStatusCode.TooManyRequests);
        Assert.Equal("rate_limit_exceeded", error.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("1", busy.Headers.GetValues("Retry-After").Single());

        gate.SetResult();
        await api.JsonAsync(await held, HttpStatusCode.Accepted);
        await api.JsonAsync(await api.Http.GetAsync("/api/collections"), HttpStatusCode.OK);
    }

    /// <summary>A one-file multipart body that sends its first part and then waits for a gate before finishing.</summary>
    private sealed class HeldUpload : HttpContent
    {
        private const string Boundary = "held-boundary";
        private readonly Task _gate;

        public HeldUpload(Task gate)
        {
            _gate = gate;
            Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes($"--{Boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\n\r\nslow "));
            await stream.FlushAsync();
            await _gate;
            await stream.WriteAsync(Encoding.UTF8.GetBytes($"upload\r\n--{Boundary}--\r\n"));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
