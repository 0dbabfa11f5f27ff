namespace RagTune.TestKit;

/// <summary>
/// Name of the xunit collection for tests that measure process-wide counters (allocated bytes): they must not
/// run beside other tests. Each test project declares <c>[CollectionDefinition(SerialCollection.Name, DisableParallelization = true)]</c>.
/// </summary>
public static class SerialCollection
{
    /// <summary>The collection name.</summary>
    public const string Name = "Serial (process-wide measurements)";
}
