using RagTune.Evaluation.Experiments;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Compare;

/// <summary>
/// Collections for a comparison: work collections live in the output folder (so a run never touches the user's data
/// directory and the folder holds everything it measured); existing collections are opened from the data directory.
/// </summary>
internal sealed class CatalogExperimentStores(ICollectionCatalog work, ICollectionCatalog user) : IExperimentStores
{
    // A leftover from an earlier run in the same folder is the run's own, so it is replaced whatever state it is in.
    public IChunkStore CreateFresh(string name) => work.Recreate(name);

    public IChunkStore OpenExisting(string name) => user.Open(name, create: false);
}
