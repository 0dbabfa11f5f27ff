using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;

namespace RagTune.Architecture.Tests;

/// <summary>
/// Enforces the layer rules of docs/architecture.md: what each project may reference, read from the project
/// files (what the build allows) and from the compiled assemblies (what the code actually uses).
/// </summary>
public sealed class ReferenceRulesTests
{
    // Project -> projects and packages it may reference (directly). Anything else is a violation.
    private static readonly Dictionary<string, string[]> s_allowed = new()
    {
        ["RagTune.Engine"] = ["System.Numerics.Tensors"],
        ["RagTune.Tokenizers"] = [],
        // ONNX files are read with OnnxSharp (generated ONNX protobuf classes) over Google.Protobuf; the engine gets tensors.
        ["RagTune.Models"] = ["RagTune.Engine", "RagTune.Tokenizers", "Microsoft.Extensions.AI.Abstractions", "OpenAI", "OnnxSharp", "Google.Protobuf"],
        ["RagTune.Rag"] = ["Microsoft.Extensions.AI.Abstractions", "System.Numerics.Tensors", "Markdig", "AngleSharp", "HtmlAgilityPack", "DocumentFormat.OpenXml", "CsvHelper", "PdfPig"],
        ["RagTune.Rag.Sqlite"] = ["RagTune.Rag", "Microsoft.Data.Sqlite.Core", "SQLitePCLRaw.bundle_e_sqlite3", "System.Numerics.Tensors"],
        ["RagTune.Rag.Postgres"] = ["RagTune.Rag", "Npgsql", "Pgvector"],
        // The Microsoft.Extensions.VectorData provider: RagTune collections behind the standard VectorStore contract.
        ["RagTune.VectorData"] = ["RagTune.Rag", "RagTune.Rag.Sqlite", "Microsoft.Extensions.VectorData.Abstractions"],
        ["RagTune.FineTuning"] = ["RagTune.Engine", "RagTune.Tokenizers", "RagTune.Models"],
        ["RagTune.Evaluation"] = ["RagTune.Rag", "RagTune.FineTuning", "Microsoft.Extensions.AI.Abstractions", "YamlDotNet", "System.Numerics.Tensors"],
        ["RagTune.Hosting"] = ["*"],
        // The server gets everything composed from Hosting but still loads its chat models (LocalChatClient) itself.
        // The server wires the OpenTelemetry SDK for its own traces and metrics (`serve --telemetry`).
        ["RagTune.Server"] = ["RagTune.Hosting", "RagTune.Models", "Microsoft.Extensions.AI.Abstractions", "OpenTelemetry", "OpenTelemetry.Exporter.OpenTelemetryProtocol", "ModelContextProtocol.AspNetCore"],
        // The comparison, the RAG pipeline and the collection catalog come composed from Hosting; the CLI's model commands (generate, chat,
        // tune, convert) still load the model layer directly. `ragtune serve` hosts the server.
        // `ragtune bench` is the benchmarks' command, added by the CLI.
        ["RagTune.Cli"] = ["RagTune.Hosting", "RagTune.Server", "RagTune.Models", "RagTune.Evaluation", "RagTune.FineTuning", "RagTune.Benchmarks", "System.CommandLine", "Spectre.Console", "ModelContextProtocol"],
        // bench/: the `ragtune bench …` commands, over the other projects' public API (the server in-process for the load tests).
        ["RagTune.Benchmarks"] = ["RagTune.Hosting", "RagTune.Server", "RagTune.Models", "RagTune.Evaluation", "System.CommandLine"],
        // The llama.cpp speed reference runs in a process of its own and knows nothing of RagTune.
        ["LlamaCppReference"] = ["LLamaSharp", "LLamaSharp.Backend.Cpu"],
    };

    private static string RootDir
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "RagTune.slnx"))) return d.FullName;
            throw new InvalidOperationException("RagTune.slnx not found above the test folder.");
        }
    }

    private static string SrcDir => Path.Combine(RootDir, "src");

    // The product's projects (src/) and the benchmarks' (bench/): each folder holding a project of its own name.
    private static IEnumerable<string> ProjectDirs() =>
        new[] { "src", "bench" }.SelectMany(tree => Directory.GetDirectories(Path.Combine(RootDir, tree)))
            .Where(dir => File.Exists(Path.Combine(dir, Path.GetFileName(dir) + ".csproj")))
            .OrderBy(Path.GetFileName, StringComparer.Ordinal);

    private static string ProjectFile(string project) =>
        ProjectDirs().Select(dir => Path.Combine(dir, project + ".csproj")).Single(File.Exists);

    public static TheoryData<string> Projects()
    {
        var data = new TheoryData<string>();
        foreach (var dir in ProjectDirs()) data.Add(Path.GetFileName(dir));
        return data;
    }

    [Theory]
    [MemberData(nameof(Projects))]
    public void Each_project_references_only_what_its_layer_allows(string project)
    {
        Assert.True(s_allowed.TryGetValue(project, out var allowed), $"{project} is not in the layer table; add it to docs/architecture.md and to this test.");
        var xml = XDocument.Load(ProjectFile(project));
        var refs = xml.Descendants("ProjectReference").Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/')))
            .Concat(xml.Descendants("PackageReference").Select(e => e.Attribute("Include")!.Value));
        foreach (var r in refs)
            Assert.True(allowed.Contains("*") || allowed.Contains(r), $"{project} must not reference {r} (allowed: {string.Join(", ", allowed)}).");
    }

    // Above the stores, collections are reached through ICollectionCatalog (RagTune.Rag.Store); which store backs it
    // (SQLite files, or PostgreSQL with a connection string) is chosen in one file. The VectorData adapter's public
    // constructor takes a data directory and sits below Hosting, so it builds the SQLite catalog itself.
    private static readonly Dictionary<string, string[]> s_storeComposition = new()
    {
        ["RagTune.Rag.Sqlite"] = ["RagTune.Hosting/Stores/CollectionStores.cs", "RagTune.VectorData/RagTuneVectorStore.cs"],
        ["RagTune.Rag.Postgres"] = ["RagTune.Hosting/Stores/CollectionStores.cs"],
    };

    [Theory]
    [InlineData("RagTune.Rag.Sqlite")]
    [InlineData("RagTune.Rag.Postgres")]
    public void Only_the_store_composition_names_a_store(string store)
    {
        var escaped = System.Text.RegularExpressions.Regex.Escape(store);
        var names = new System.Text.RegularExpressions.Regex($@"\busing\s+(static\s+)?(\w+\s*=\s*)?{escaped}\b|\b{escaped}\.\w", System.Text.RegularExpressions.RegexOptions.CultureInvariant);
        var offenders = Directory.EnumerateFiles(SrcDir, "*.cs", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(SrcDir, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith(store + "/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal))
            .Where(f => !s_storeComposition[store].Contains(f))
            .Where(f => names.IsMatch(File.ReadAllText(Path.Combine(SrcDir, f))))
            .ToList();
        Assert.True(offenders.Count == 0,
            $"These files name {store}; open collections through ICollectionCatalog from RagTune.Hosting.Stores.CollectionStores instead: {string.Join(", ", offenders)}.");
    }

    // Internals are seen by tests only: a production project that needs another's type uses its public, documented API.
    private static bool IsTestProject(string name) => name.EndsWith(".Tests", StringComparison.Ordinal) || name == "RagTune.TestKit";

    [Theory]
    [MemberData(nameof(Projects))]
    public void Internals_are_visible_to_test_projects_only(string project)
    {
        var grants = InternalsVisibleTo(CompiledAssembly(project));
        var offenders = grants.Where(g => !IsTestProject(g.Split(',')[0].Trim())).ToList();
        Assert.True(offenders.Count == 0,
            $"{project} grants InternalsVisibleTo to {string.Join(", ", offenders)}; only test projects (*.Tests, RagTune.TestKit) may see internals. " +
            "Make the types that project needs public and documented instead.");
    }

    // The project's own build output, in the configuration and framework this test was built for
    // (tests/RagTune.Architecture.Tests/bin/<configuration>/<framework>/ → <project dir>/bin/<configuration>/<framework>/).
    private static string CompiledAssembly(string project)
    {
        var testProjectDir = Path.Combine(RootDir, "tests", "RagTune.Architecture.Tests");
        var output = Path.GetRelativePath(testProjectDir, AppContext.BaseDirectory);
        var dir = ProjectDirs().Single(d => Path.GetFileName(d) == project);
        var path = Path.Combine(dir, output, project + ".dll");
        Assert.True(File.Exists(path), $"{path} does not exist; build the solution (dotnet build RagTune.slnx) before running this test.");
        return path;
    }

    // Read from the metadata rather than loaded, so that an assembly of another folder (or one this test also loads) is not bound.
    private static List<string> InternalsVisibleTo(string assemblyPath)
    {
        using var pe = new PEReader(File.OpenRead(assemblyPath));
        var md = pe.GetMetadataReader();
        var grants = new List<string>();
        foreach (var handle in md.GetAssemblyDefinition().GetCustomAttributes())
        {
            var attribute = md.GetCustomAttribute(handle);
            if (attribute.Constructor.Kind != HandleKind.MemberReference) continue;
            var parent = md.GetMemberReference((MemberReferenceHandle)attribute.Constructor).Parent;
            if (parent.Kind != HandleKind.TypeReference) continue;
            var type = md.GetTypeReference((TypeReferenceHandle)parent);
            if (md.GetString(type.Namespace) != "System.Runtime.CompilerServices" || md.GetString(type.Name) != nameof(System.Runtime.CompilerServices.InternalsVisibleToAttribute)) continue;
            var value = md.GetBlobReader(attribute.Value);
            if (value.ReadUInt16() != 1) throw new BadImageFormatException($"{assemblyPath}: an InternalsVisibleTo attribute blob lacks its prolog.");
            grants.Add(value.ReadSerializedString() ?? "");
        }
        return grants;
    }

    [Theory]
    [InlineData("RagTune.Engine", new[] { "System.Numerics.Tensors" })]
    [InlineData("RagTune.Tokenizers", new string[0])]
    public void Leaf_assemblies_use_only_the_base_class_library(string assembly, string[] extra)
    {
        var asm = Assembly.Load(assembly);
        foreach (var r in asm.GetReferencedAssemblies())
        {
            bool bcl = r.Name is "mscorlib" or "netstandard" || r.Name!.StartsWith("System.", StringComparison.Ordinal) && !extra.Contains(r.Name) && IsFramework(r);
            Assert.True(bcl || extra.Contains(r.Name), $"{assembly} references {r.Name}; the engine and tokenizers are leaves (BCL{(extra.Length > 0 ? " + " + string.Join(", ", extra) : "")}).");
        }
    }

    private static bool IsFramework(AssemblyName name)
    {
        var token = name.GetPublicKeyToken();
        // Microsoft's framework keys: b03f5f7f11d50a3a, b77a5c561934e089, cc7b13ffcd2ddd51, 7cec85d7bea7798e.
        var hex = token is null ? "" : Convert.ToHexString(token).ToLowerInvariant();
        return hex is "b03f5f7f11d50a3a" or "b77a5c561934e089" or "cc7b13ffcd2ddd51" or "7cec85d7bea7798e";
    }
}
