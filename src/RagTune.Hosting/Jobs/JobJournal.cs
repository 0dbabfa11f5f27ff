using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;

namespace RagTune.Hosting.Jobs;

/// <summary>
/// Keeps each job's last state on disk (<c>&lt;data&gt;/jobs/&lt;id&gt;.json</c>) so that a server killed or
/// restarted still lists what it was asked to do. A record is written when a job is queued, starts and finishes
/// (never per progress tick), each time to a temporary file flushed to disk and then renamed over the old one, so a
/// kill at any moment leaves either the previous record or the new one. A job that was queued or running when the
/// server stopped comes back as failed, saying it was interrupted; its partial work was never committed (ingestion
/// commits whole batches, training resumes from its checkpoint).
/// </summary>
internal sealed class JobJournal(string folder, ILogger log)
{
    private const string Extension = ".json";

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>The error a job interrupted by a stopped server carries.</summary>
    public static string InterruptedError(JobState state) =>
        $"Interrupted: the server stopped while this job was {state.ToString().ToLowerInvariant()}. What it had committed is kept; start it again to finish.";

    /// <summary>Writes <paramref name="snapshot"/> as the job's record. A failure is logged, never thrown: the job itself goes on.</summary>
    public void Write(JobSnapshot snapshot)
    {
        try
        {
            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, snapshot.Id + Extension);
            var temp = path + ".tmp";
            using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                JsonSerializer.Serialize(f, snapshot with { Points = 0 }, s_json);
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or JsonException)
        {
            log.LogWarning(e, "Could not record job {JobId} in {Folder}", snapshot.Id, folder);
        }
    }

    /// <summary>Forgets a job's record (the queue no longer retains it).</summary>
    public void Delete(string id)
    {
        try
        {
            File.Delete(Path.Combine(folder, id + Extension));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning(e, "Could not delete the record of job {JobId}", id);
        }
    }

    /// <summary>
    /// Every recorded job, oldest first; one that was queued or running is returned failed as interrupted (and its
    /// record rewritten so). An unreadable record is logged and left where it is; a leftover temporary file is removed.
    /// </summary>
    public IReadOnlyList<JobSnapshot> Load()
    {
        if (!Directory.Exists(folder)) return [];
        foreach (var temp in Directory.EnumerateFiles(folder, "*" + Extension + ".tmp"))
            File.Delete(temp); // a write the kill cut short; the record it was replacing is still there
        var jobs = new List<JobSnapshot>();
        foreach (var path in Directory.EnumerateFiles(folder, "*" + Extension))
        {
            JobSnapshot? s;
            try
            {
                using var f = File.OpenRead(path);
                s = JsonSerializer.Deserialize<JobSnapshot>(f, s_json);
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                log.LogWarning(e, "Skipping the unreadable job record {Path}", path);
                continue;
            }
            if (s == null || string.IsNullOrEmpty(s.Id) || Path.GetFileNameWithoutExtension(path) != s.Id)
            {
                log.LogWarning("Skipping the job record {Path}: it names no job or another one", path);
                continue;
            }
            if (!s.IsFinal)
            {
                s = s with { State = JobState.Failed, Stage = "failed", Error = InterruptedError(s.State), EtaSeconds = null, Finished = DateTimeOffset.UtcNow, Version = s.Version + 1 };
                Write(s);
            }
            jobs.Add(s);
        }
        return [.. jobs.OrderBy(j => j.Created)];
    }
}
