using RagTune.Rag.Store;

namespace RagTune.Hosting;

/// <summary>
/// Settings of the composed RagTune services (collections, uploads, jobs), bound from the <c>RagTune</c>
/// configuration section and validated before anything starts. Defaults are documented per property.
/// </summary>
public sealed class RagTuneOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string Section = "RagTune";

    /// <summary>
    /// Data directory (collections, uploaded files, fine-tuning runs); null means <c>$RAGTUNE_DATA_DIR</c>, else
    /// <c>~/.ragtune</c>. Uploaded files never leave <c>&lt;data&gt;/uploads</c>.
    /// </summary>
    public string? DataDirectory { get; set; }

    /// <summary>Largest uploaded file (document or training set), in bytes; default 32 MiB. Larger uploads get 413.</summary>
    public long MaxUploadBytes { get; set; } = 32L << 20;

    /// <summary>Long jobs (ingestion, fine-tuning, comparisons) running at once; default 1 (they compete for the same cores).</summary>
    public int MaxConcurrentJobs { get; set; } = 1;

    /// <summary>Jobs waiting for a slot; default 16. Starting one more is refused (429) until a slot frees.</summary>
    public int MaxQueuedJobs { get; set; } = 16;

    /// <summary>Finished jobs kept for status queries and late subscribers; default 100 (oldest dropped first).</summary>
    public int RetainedJobs { get; set; } = 100;

    /// <summary>
    /// Local BERT-family embedding model (Hugging Face folder, GGUF, or catalog/cache name) that embeds chunks on
    /// ingestion and queries for dense and hybrid search; none (default) keeps collections BM25-only.
    /// </summary>
    public string? EmbeddingModel { get; set; }

    /// <summary>
    /// Hybrid search's agreement gate depth (<c>RetrieverOptions.DenseAgreementDepth</c>): the dense ranking gets its
    /// full vote when its top results share enough with BM25's; 0 turns the gate off. Default 10.
    /// </summary>
    public int DenseAgreementDepth { get; set; } = 10;

    /// <summary>
    /// Where collections are kept (<c>RagTune:Store</c>): SQLite files under the data directory by default, or a
    /// PostgreSQL database with <c>RagTune:Store:ConnectionString</c>.
    /// </summary>
    public RagTuneStoreOptions Store { get; set; } = new();

    /// <summary>The collection store settings these options give (<see cref="Stores.CollectionStores"/>).</summary>
    public Stores.CollectionStoreOptions CollectionStore => new()
    {
        DataDirectory = ResolvedDataDirectory,
        ConnectionString = string.IsNullOrWhiteSpace(Store.ConnectionString) ? null : Store.ConnectionString,
        SchemaPrefix = Store.SchemaPrefix,
        HnswM = Store.HnswM,
        HnswEfConstruction = Store.HnswEfConstruction,
        HnswEfSearch = Store.HnswEfSearch,
    };

    /// <summary>Compute threads for fine-tuning; 0 (default) uses one per processor.</summary>
    public int TrainingThreads { get; set; }

    /// <summary>The resolved data directory (option, then <c>$RAGTUNE_DATA_DIR</c>, then <c>~/.ragtune</c>).</summary>
    public string ResolvedDataDirectory => RagTuneDataDirectory.Resolve(DataDirectory);

    /// <summary>Where uploaded documents of collection <c>name</c> are kept: <c>&lt;data&gt;/uploads/&lt;name&gt;</c>.</summary>
    public string UploadsDirectory => Path.Combine(ResolvedDataDirectory, "uploads");

    /// <summary>Uploaded training sets: <c>&lt;data&gt;/datasets</c>.</summary>
    public string DatasetsDirectory => Path.Combine(ResolvedDataDirectory, "datasets");

    /// <summary>Fine-tuning outputs, one folder per job: <c>&lt;data&gt;/tunes/&lt;job id&gt;</c>.</summary>
    public string TunesDirectory => Path.Combine(ResolvedDataDirectory, "tunes");

    /// <summary>Comparisons, one folder per job (spec, reports, work files): <c>&lt;data&gt;/compares/&lt;job id&gt;</c>.</summary>
    public string ComparesDirectory => Path.Combine(ResolvedDataDirectory, "compares");

    /// <summary>The job journal, one record per job: <c>&lt;data&gt;/jobs/&lt;job id&gt;.json</c> (<see cref="Jobs.JobJournal"/>).</summary>
    public string JobsDirectory => Path.Combine(ResolvedDataDirectory, "jobs");

    /// <summary>Checks every setting; throws <see cref="RagTuneOptionsException"/> naming the setting and the fix.</summary>
    public void Validate()
    {
        if (MaxUploadBytes < 1024) throw new RagTuneOptionsException($"RagTune:MaxUploadBytes {MaxUploadBytes} is below 1024; no document would fit.");
        if (MaxConcurrentJobs < 1) throw new RagTuneOptionsException($"RagTune:MaxConcurrentJobs {MaxConcurrentJobs} must be at least 1.");
        if (MaxQueuedJobs < 0) throw new RagTuneOptionsException($"RagTune:MaxQueuedJobs {MaxQueuedJobs} must be 0 or more.");
        if (RetainedJobs < 1) throw new RagTuneOptionsException($"RagTune:RetainedJobs {RetainedJobs} must be at least 1.");
        if (DenseAgreementDepth < 0) throw new RagTuneOptionsException($"RagTune:DenseAgreementDepth {DenseAgreementDepth} must be 0 (no gate) or positive.");
        if (TrainingThreads < 0) throw new RagTuneOptionsException($"RagTune:TrainingThreads {TrainingThreads} must be 0 (one per processor) or positive.");
        if (EmbeddingModel is { Length: > 0 } model)
        {
            try
            {
                RagTune.Models.Downloads.ModelResolver.Resolve(model);
            }
            catch (FileNotFoundException e)
            {
                throw new RagTuneOptionsException($"RagTune:EmbeddingModel: {e.Message}");
            }
        }
        try
        {
            CollectionStore.Validate();
        }
        catch (ArgumentException e)
        {
            throw new RagTuneOptionsException($"RagTune:Store:{e.ParamName}: {e.Message}");
        }
        var dir = ResolvedDataDirectory;
        if (File.Exists(dir)) throw new RagTuneOptionsException($"RagTune:DataDirectory '{dir}' is a file; pass a folder with --data-dir.");
    }
}

/// <summary>The <c>RagTune:Store</c> section: which collection store the server uses.</summary>
public sealed class RagTuneStoreOptions
{
    /// <summary>PostgreSQL connection string (<c>postgres://…</c> or <c>Host=…</c>); unset (default) keeps SQLite files under the data directory.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>PostgreSQL schema prefix; default <c>ragtune</c>.</summary>
    public string SchemaPrefix { get; set; } = new Stores.CollectionStoreOptions().SchemaPrefix;

    /// <summary>PostgreSQL HNSW <c>m</c> (links per node) of new vector indexes; default 16.</summary>
    public int HnswM { get; set; } = new Stores.CollectionStoreOptions().HnswM;

    /// <summary>PostgreSQL HNSW <c>ef_construction</c> of new vector indexes; default 64.</summary>
    public int HnswEfConstruction { get; set; } = new Stores.CollectionStoreOptions().HnswEfConstruction;

    /// <summary>PostgreSQL HNSW <c>ef_search</c> per query; default 100.</summary>
    public int HnswEfSearch { get; set; } = new Stores.CollectionStoreOptions().HnswEfSearch;
}

/// <summary>A RagTune setting is invalid; the message names the setting and the fix.</summary>
public sealed class RagTuneOptionsException(string message) : Exception(message);
