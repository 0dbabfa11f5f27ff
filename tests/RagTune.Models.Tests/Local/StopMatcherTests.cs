using RagTune.Models.Local;

namespace RagTune.Models.Tests.Local;

public sealed class StopMatcherTests
{
    private static (string Emitted, bool Stopped) Run(string[] stops, params string[] pieces)
    {
        var sb = new System.Text.StringBuilder();
        var m = new StopMatcher(stops, s => sb.Append(s));
        foreach (var p in pieces)
            if (m.Push(p)) return (sb.ToString(), true);
        m.Finish("");
        return (sb.ToString(), false);
    }

    [Fact]
    public void A_stop_string_split_across_pieces_is_caught_and_never_emitted()
    {
        var (text, stopped) = Run(["\nUser:"], "Hello", " there", "\n", "Us", "er:", " more");
        Assert.True(stopped);
        Assert.Equal("Hello there", text);
    }

    [Fact]
    public void Held_back_text_is_released_when_it_turns_out_not_to_be_a_stop()
    {
        var (text, stopped) = Run(["\nUser:"], "a\n", "Use", "ful");
        Assert.False(stopped);
        Assert.Equal("a\nUseful", text);
    }

    [Fact]
    public void The_earliest_of_several_stops_wins()
    {
        var (text, stopped) = Run(["END", "."], "one. two END");
        Assert.True(stopped);
        Assert.Equal("one", text);
    }

    [Fact]
    public void Without_stops_everything_passes_through()
    {
        var (text, stopped) = Run([], "a", "b", "");
        Assert.False(stopped);
        Assert.Equal("ab", text);
    }
}
