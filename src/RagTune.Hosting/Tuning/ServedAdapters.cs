using RagTune.FineTuning.Adapters;
using RagTune.Models.Local;

namespace RagTune.Hosting.Tuning;

/// <summary>
/// Puts PEFT adapters onto a served base for the server, which may not reference RagTune.FineTuning itself.
/// </summary>
public static class ServedAdapters
{
    /// <summary>
    /// Loads <paramref name="folder"/> onto <paramref name="client"/> under <paramref name="name"/>; throws a
    /// <see cref="HostingException"/> naming the folder when it is not an adapter or was trained for another base.
    /// </summary>
    public static void Load(LocalChatClient client, string name, string folder)
    {
        try
        {
            client.AddAdapter(name, folder);
        }
        catch (Exception e) when (e is IOException or ArgumentException or System.Text.Json.JsonException)
        {
            throw HostingException.Invalid($"Adapter '{name}' in '{folder}' cannot be loaded: {e.Message}");
        }
    }
}
