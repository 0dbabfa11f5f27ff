using System.CommandLine;
using RagTune.Cli.Commands;

var root = new RootCommand("RagTune: RAG or fine-tuning? Measure it on your own data, with a pure C# engine.");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(ModelCommands.Create());
root.Subcommands.Add(BenchCommands.Create());
root.Subcommands.Add(RagTune.Cli.Commands.Rag.IngestCommand.Create());
root.Subcommands.Add(RagTune.Cli.Commands.Rag.SearchCommand.Create());
root.Subcommands.Add(RagTune.Cli.Commands.Rag.AskCommand.Create());
root.Subcommands.Add(RagTune.Cli.Commands.Rag.CollectionsCommand.Create());
root.Subcommands.Add(RagTune.Cli.Commands.Rag.EvalCommand.Create());
root.Subcommands.OfType<Command>().Single(c => c.Name == "bench").Subcommands.Add(RagTune.Cli.Commands.Rag.RagBenchCommand.Create());
return await root.Parse(args).InvokeAsync();
