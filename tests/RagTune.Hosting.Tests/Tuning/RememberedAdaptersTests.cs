using RagTune.Hosting.Tuning;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Tuning;

public sealed class RememberedAdaptersTests
{
    [Fact]
    public void Adapters_are_remembered_by_model_and_name_with_folders_inside_the_data_directory_kept_relative()
    {
        using var dir = new TempDir();
        var options = new RagTuneOptions { DataDirectory = dir.File("data") };
        var remembered = new RememberedAdapters(options);
        Assert.Empty(remembered.Load());

        var inside = Path.Combine(options.ResolvedDataDirectory, "tunes", "tune-1", "adapter");
        remembered.Remember(new ServedAdapter("m", "a", inside));
        remembered.Remember(new ServedAdapter("m", "b", dir.File("elsewhere")));
        remembered.Remember(new ServedAdapter("m", "a", inside + "2"));
        Assert.Equal([new ServedAdapter("m", "b", dir.File("elsewhere")), new ServedAdapter("m", "a", inside + "2")], remembered.Load());
        Assert.Contains("\"tunes/tune-1/adapter2\"", File.ReadAllText(remembered.FilePath));
        Assert.False(File.Exists(remembered.FilePath + ".tmp"));
    }

    [Fact]
    public void A_file_of_another_format_or_a_newer_version_is_refused_naming_the_fix()
    {
        using var dir = new TempDir();
        var remembered = new RememberedAdapters(new RagTuneOptions { DataDirectory = dir.Path });
        File.WriteAllText(remembered.FilePath, "{\"format\": \"ragtune-served-adapters\", \"version\": 9, \"adapters\": []}");
        Assert.Contains("version' is 9; this build reads version 1", Assert.Throws<InvalidDataException>(() => remembered.Load()).Message);
        File.WriteAllText(remembered.FilePath, "{not json");
        Assert.Contains("Fix or delete the file", Assert.Throws<InvalidDataException>(() => remembered.Load()).Message);
    }

    [Theory]
    [InlineData("support", true)]
    [InlineData("v1.2_x-y", true)]
    [InlineData("a+b", false)]
    [InlineData("../x", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Adapter_names_fit_a_model_id(string? name, bool ok)
    {
        if (ok) Assert.Equal(name, RememberedAdapters.CheckName(name));
        else Assert.Equal((HostingFailure.Invalid, "name"), Assert.Throws<HostingException>(() => RememberedAdapters.CheckName(name)) is var e ? (e.Failure, e.Field) : default);
    }
}
