using RagTune.TestKit;

namespace RagTune.Engine.Tests;

[CollectionDefinition(SerialCollection.Name, DisableParallelization = true)]
public sealed class SerialCollectionDefinition;
