using System.CommandLine;
using RagTune.Cli.Commands;

var root = new RootCommand("RagTune: RAG or fine-tuning? Measure it on your own data, with a pure C# engine.");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(ChatCommand.Create());
root.Subcommands.Add(ModelCommands.Create());
root.Subcommands.Add(BenchCommands.Create());
root.Subcommands.Add(TuneCommand.Create());
root.Subcommands.Add(AdapterCommands.Create());
root.Subcommands.Add(ServeCommand.Create());
return await root.Parse(args).InvokeAsync();
