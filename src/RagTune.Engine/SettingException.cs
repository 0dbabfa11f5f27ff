using System.Text;

namespace RagTune.Engine;

/// <summary>
/// A setting of an options type is invalid. The libraries know a setting by its property name, not by how a front
/// end spells it (<c>--lr</c> on the command line, <c>learningRate</c> in a request), so the message is kept as a
/// template: every setting it mentions appears as <c>{PropertyName}</c> and <see cref="Render"/> lets the front end
/// put its own word there. <see cref="Message"/> renders <c>Options.PropertyName</c>, for callers of the library.
/// </summary>
/// <remarks>
/// It lives in the engine because that is the one project every library that validates settings (Models, FineTuning)
/// already references; it is BCL-only, so the engine stays a leaf.
/// </remarks>
public sealed class SettingException : ArgumentException
{
    /// <param name="options">The options type, e.g. <c>nameof(TuneOptions)</c>.</param>
    /// <param name="template">The message; a <c>{Setting}</c> whose name is in <paramref name="settings"/> is replaced by the front end's wording.</param>
    /// <param name="settings">The settings the message mentions, the one at fault first.</param>
    public SettingException(string options, string template, params string[] settings)
        : base(template, settings.Length > 0 ? settings[0] : throw new ArgumentException("name at least the setting at fault", nameof(settings)))
    {
        Options = options;
        Template = template;
        Settings = settings;
    }

    /// <summary>The options type whose settings these are.</summary>
    public string Options { get; }

    /// <summary>The message with <c>{Setting}</c> placeholders.</summary>
    public string Template { get; }

    /// <summary>The settings the message mentions; the first is the one at fault (also <see cref="ArgumentException.ParamName"/>).</summary>
    public IReadOnlyList<string> Settings { get; }

    /// <summary>The setting at fault.</summary>
    public string Setting => Settings[0];

    /// <summary>The message as a library caller reads it, e.g. "TuneOptions.LearningRate 5 must be in (0, 1)…".</summary>
    public override string Message => Render(null);

    /// <summary>
    /// The message with each setting worded by <paramref name="wording"/> (a flag, a JSON field); a setting it has no
    /// word for (returns null) reads <c>Options.Setting</c>.
    /// </summary>
    public string Render(Func<string, string?>? wording)
    {
        // Only the listed names are placeholders: a value interpolated into the template (a path, a JSON snippet)
        // may hold braces of its own.
        var sb = new StringBuilder(Template);
        foreach (var s in Settings)
            sb.Replace("{" + s + "}", wording?.Invoke(s) ?? $"{Options}.{s}");
        return sb.ToString();
    }
}
