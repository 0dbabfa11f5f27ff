using RagTune.Hosting.Collections;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Collections;

public sealed class UploadStoreTests
{
    [Theory]
    [InlineData("notes.md", "notes.md")]
    [InlineData("../../x.txt", "x.txt")]
    [InlineData("..\\..\\windows\\evil.md", "evil.md")]
    [InlineData("/etc/passwd", "passwd")]
    [InlineData(".bashrc.txt", "bashrc.txt")]
    [InlineData("....md", "md")]
    [InlineData("my report?.txt", "my report_.txt")]
    [InlineData("C:\\Users\\me\\plan.docx", "plan.docx")]
    [InlineData("naïve.md", "na_ve.md")]
    [InlineData("..", null)]
    [InlineData("../..", null)]
    [InlineData("dir/", null)]
    [InlineData("   ", null)]
    [InlineData("", null)]
    [InlineData("???", null)]
    public void Client_file_names_are_reduced_to_a_safe_base_name(string given, string? expected) =>
        Assert.Equal(expected, UploadStore.SanitizeFileName(given));

    [Fact]
    public void Long_names_are_cut_keeping_the_extension()
    {
        var name = UploadStore.SanitizeFileName(new string('a', 500) + ".md")!;
        Assert.Equal(UploadStore.MaxNameLength, name.Length);
        Assert.EndsWith(".md", name);
    }

    [Fact]
    public async Task A_traversing_name_is_written_inside_the_folder()
    {
        using var dir = new TempDir();
        var folder = Path.Combine(dir.Path, "data", "uploads", "docs");
        var stored = await UploadStore.SaveAsync(folder, "../../../x.txt", new MemoryStream("hello"u8.ToArray()), 1024, CancellationToken.None);
        Assert.Equal(new StoredUpload("x.txt", 5), stored);
        Assert.Equal("hello", File.ReadAllText(Path.Combine(folder, "x.txt")));
        Assert.Equal([Path.Combine(folder, "x.txt")], Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task An_upload_over_the_limit_is_refused_and_leaves_nothing_behind()
    {
        using var dir = new TempDir();
        var e = await Assert.ThrowsAsync<HostingException>(() =>
            UploadStore.SaveAsync(dir.Path, "big.txt", new MemoryStream(new byte[5000]), 4096, CancellationToken.None));
        Assert.Equal(HostingFailure.TooLarge, e.Failure);
        Assert.Contains("4096", e.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public async Task A_second_upload_of_a_name_replaces_the_first()
    {
        using var dir = new TempDir();
        await UploadStore.SaveAsync(dir.Path, "a.txt", new MemoryStream("one"u8.ToArray()), 1024, CancellationToken.None);
        await UploadStore.SaveAsync(dir.Path, "a.txt", new MemoryStream("two!"u8.ToArray()), 1024, CancellationToken.None);
        Assert.Equal("two!", File.ReadAllText(dir.File("a.txt")));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public async Task A_name_with_nothing_usable_is_refused()
    {
        using var dir = new TempDir();
        var e = await Assert.ThrowsAsync<HostingException>(() =>
            UploadStore.SaveAsync(dir.Path, "../..", new MemoryStream([1]), 1024, CancellationToken.None));
        Assert.Equal(HostingFailure.Invalid, e.Failure);
        Assert.Equal("file", e.Field);
    }
}
