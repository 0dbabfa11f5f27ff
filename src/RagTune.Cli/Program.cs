using System.CommandLine;
using RagTune.Cli.Commands;
using RagTune.Cli.Commands.Rag;

var root = new RootCommand("RagTune: RAG or fine-tuning? Measure it on your own data, with a pure C# engine.");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(ChatCommand.Create());
root.Subcommands.Add(ModelCommands.Create());
root.Subcommands.Add(IngestCommand.Create());
root.Subcommands.Add(SearchCommand.Create());
root.Subcommands.Add(AskCommand.Create());
root.Subcommands.Add(CollectionsCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(TuneCommand.Create());
root.Subcommands.Add(AdapterCommands.Create());
root.Subcommands.Add(EmbedCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(BenchCommands.Create());
return await root.Parse(args).InvokeAsync();
