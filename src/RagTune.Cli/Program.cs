using System.CommandLine;
using RagTune.Cli.Commands;
using RagTune.Cli.Commands.Compare;
using RagTune.Cli.Commands.Rag;

var root = new RootCommand("RagTune: RAG or fine-tuning? Measure it on your own data, with a pure C# engine.");
root.Options.Add(RagCliOptions.Store); // recursive: every command that names a collection accepts --store
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(ChatCommand.Create());
root.Subcommands.Add(ModelCommands.Create());
root.Subcommands.Add(IngestCommand.Create());
root.Subcommands.Add(SearchCommand.Create());
root.Subcommands.Add(AskCommand.Create());
root.Subcommands.Add(CollectionsCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(TuneCommand.Create());
root.Subcommands.Add(TuneEmbeddingsCommand.Create());
root.Subcommands.Add(AdapterCommands.Create());
root.Subcommands.Add(EmbedCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(RagTune.Benchmarks.BenchCommands.Create(RagCliOptions.StoreOf));
root.Subcommands.Add(CompareCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(QaCommand.Create());
root.Subcommands.Add(RagTune.Cli.Commands.Mcp.McpCommand.Create());
return await root.Parse(args).InvokeAsync();
