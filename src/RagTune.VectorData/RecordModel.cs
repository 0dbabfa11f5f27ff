using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;
using Microsoft.Extensions.VectorData.ProviderServices;
using RagTune.Rag.Store;

namespace RagTune.VectorData;

/// <summary>
/// How a record type maps onto a RagTune collection. A record is one chunk: the key is its document id (with
/// <c>#N</c> appended for the N-th chunk, N &gt; 0, of a document <c>ragtune ingest</c> split), the one full-text data
/// property is the chunk's text (the BM25-indexed column), every other data property is a document metadata entry
/// (stored as invariant text under its storage name, so <c>--filter name=value</c> and LINQ filters see it), and the
/// one vector property is the chunk's embedding. A record written through the abstraction is a one-chunk document.
/// </summary>
internal sealed class RecordModel
{
    private RecordModel(CollectionModel model, DataPropertyModel text, IReadOnlyList<DataPropertyModel> metadata)
    {
        Model = model;
        Text = text;
        Metadata = metadata;
    }

    public CollectionModel Model { get; }

    public KeyPropertyModel Key => Model.KeyProperty;

    /// <summary>The chunk text.</summary>
    public DataPropertyModel Text { get; }

    /// <summary>Data properties kept as document metadata.</summary>
    public IReadOnlyList<DataPropertyModel> Metadata { get; }

    public VectorPropertyModel? Vector => Model.VectorProperties.Count == 0 ? null : Model.VectorProperty;

    public static RecordModel Build(Type recordType, Type keyType, VectorStoreCollectionDefinition? definition, IEmbeddingGenerator? generator, bool dynamic)
    {
        if (keyType != typeof(string) && !(dynamic && keyType == typeof(object)))
            throw new NotSupportedException($"RagTune collections are keyed by document id: use string keys (TKey is {keyType.Name}).");
        var builder = new Builder();
        var model = dynamic ? builder.BuildDynamic(definition!, generator) : builder.Build(recordType, keyType, definition, generator);
        if (model.KeyProperty.Type != typeof(string))
            throw new NotSupportedException($"The key property '{model.KeyProperty.ModelName}' of {recordType.Name} is {model.KeyProperty.Type.Name}; RagTune collections are keyed by document id (string).");
        var strings = model.DataProperties.Where(p => p.Type == typeof(string)).ToList();
        var text = model.DataProperties.Where(p => p.IsFullTextIndexed).ToList() switch
        {
            [var one] => one,
            [] when strings.Count == 1 => strings[0],
            [] => throw new InvalidOperationException($"{recordType.Name} needs one string data property for the chunk text: mark it [VectorStoreData(IsFullTextIndexed = true)]."),
            var many => throw new InvalidOperationException($"{recordType.Name} marks {many.Count} properties IsFullTextIndexed ({string.Join(", ", many.Select(p => p.ModelName))}); a RagTune collection has one text column: mark one."),
        };
        if (text.Type != typeof(string))
            throw new InvalidOperationException($"The full-text property '{text.ModelName}' of {recordType.Name} is {text.Type.Name}; the chunk text must be a string.");
        return new RecordModel(model, text, [.. model.DataProperties.Where(p => p != text)]);
    }

    // The key of a stored chunk; the inverse is DocumentOf.
    public static string KeyOf(StoredChunk c) =>
        c.Chunk.Index == 0 ? c.DocumentId : c.DocumentId + "#" + c.Chunk.Index.ToString(CultureInfo.InvariantCulture);

    public static string KeyString(object? key) => key switch
    {
        string s when s.Length > 0 => s,
        null or "" => throw new ArgumentException("A RagTune record key (document id) must be a non-empty string.", nameof(key)),
        _ => throw new NotSupportedException($"RagTune collections are keyed by document id (string), not {key.GetType().Name}."),
    };

    public TRecord ToRecord<TRecord>(StoredChunk chunk)
    {
        var record = Model.CreateRecord<TRecord>()!;
        Key.SetValueAsObject(record, KeyOf(chunk));
        Text.SetValueAsObject(record, chunk.Chunk.Text);
        foreach (var p in Metadata)
            if (chunk.Metadata.TryGetValue(p.StorageName, out var value)) p.SetValueAsObject(record, Parse(value, p));
        return record;
    }

    /// <summary>The record as a one-chunk document write, embedding it when its vector property is text.</summary>
    public async Task<(DocumentWrite Write, float[]? Vector)> ToWriteAsync(object record, CancellationToken ct)
    {
        var id = KeyString(Key.GetValueAsObject(record));
        var text = (string?)Text.GetValueAsObject(record) ?? "";
        var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in Metadata)
            if (p.GetValueAsObject(record) is { } value) metadata[p.StorageName] = Format(value);
        float[]? vector = null;
        if (Vector is { } v && v.GetValueAsObject(record) is { } raw)
            vector = await VectorOfAsync(v, raw, ct).ConfigureAwait(false);
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text + "\n" + string.Join("\n", metadata)))).ToLowerInvariant();
        var doc = new SourceDocument(id, id, id, text, hash, metadata);
        var chunk = new Chunk(0, text, 0, text.Length, [], Math.Max(1, text.Length / 4));
        return (new DocumentWrite(doc, [chunk], vector is null ? null : [vector]), vector);
    }

    /// <summary>A search value or a stored vector value as floats: given directly, or embedded by the property's generator.</summary>
    public static async Task<float[]> VectorOfAsync(VectorPropertyModel property, object value, CancellationToken ct)
    {
        switch (value)
        {
            case ReadOnlyMemory<float> m: return m.ToArray();
            case float[] a: return a;
            case Embedding<float> e: return e.Vector.ToArray();
        }
        if (property.EmbeddingGenerator is null)
            throw new NotSupportedException($"A {value.GetType().Name} cannot be used as the vector of '{property.ModelName}': give ReadOnlyMemory<float> or float[], or configure an embedding generator (RagTuneVectorStoreOptions.EmbeddingGenerator or the property's).");
        var embedding = await property.GenerateEmbeddingAsync(value, ct).ConfigureAwait(false);
        return embedding is Embedding<float> f
            ? f.Vector.ToArray()
            : throw new NotSupportedException($"The embedding generator of '{property.ModelName}' made {embedding.GetType().Name}; RagTune stores float vectors (Embedding<float>).");
    }

    /// <summary>Metadata text of a value: invariant, round-trippable (the same text a LINQ filter's constant becomes).</summary>
    public static string Format(object value) => value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
        DateTime d => d.ToString("O", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => throw new NotSupportedException($"Metadata values of type {value.GetType().Name} are not supported; use string, bool, numbers, Guid or dates."),
    };

    private static object? Parse(string text, PropertyModel p)
    {
        var type = Nullable.GetUnderlyingType(p.Type) ?? p.Type;
        try
        {
            if (type == typeof(string)) return text;
            if (type == typeof(bool)) return text == "true";
            if (type == typeof(Guid)) return Guid.Parse(text, CultureInfo.InvariantCulture);
            if (type == typeof(DateTimeOffset)) return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            if (type == typeof(DateTime)) return DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            return Convert.ChangeType(text, type, CultureInfo.InvariantCulture);
        }
        catch (FormatException e)
        {
            throw new InvalidOperationException($"Metadata '{p.StorageName}' holds '{text}', which is not a {type.Name} (property '{p.ModelName}').", e);
        }
    }

    // Metadata is stored as invariant text and vectors as float blobs: the types RecordModel.Format and VectorOfAsync handle.
    private sealed class Builder() : CollectionModelBuilder(new CollectionModelBuildingOptions { SupportsMultipleVectors = false, RequiresAtLeastOneVector = false })
    {
        private static readonly Type[] s_data =
        [
            typeof(string), typeof(bool), typeof(int), typeof(long), typeof(short), typeof(byte), typeof(float), typeof(double), typeof(decimal),
            typeof(Guid), typeof(DateTime), typeof(DateTimeOffset),
        ];

        protected override bool IsDataPropertyTypeValid(Type type, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? supportedTypes)
        {
            supportedTypes = string.Join(", ", s_data.Select(t => t.Name));
            var t = Nullable.GetUnderlyingType(type) ?? type;
            return s_data.Contains(t);
        }

        protected override bool IsVectorPropertyTypeValid(Type type, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? supportedTypes)
        {
            supportedTypes = "ReadOnlyMemory<float>, float[], Embedding<float>";
            var t = Nullable.GetUnderlyingType(type) ?? type;
            return t == typeof(ReadOnlyMemory<float>) || t == typeof(float[]) || t == typeof(Embedding<float>);
        }
    }
}
