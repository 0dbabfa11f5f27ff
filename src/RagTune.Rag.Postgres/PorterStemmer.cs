using System.Text;

namespace RagTune.Rag.Postgres;

/// <summary>
/// The Porter (1980) stemmer as SQLite's FTS5 <c>porter</c> tokenizer applies it: on the token's UTF-8 bytes (a
/// non-ASCII byte is a consonant), tokens of fewer than 3 or more than 64 bytes unchanged. Steps and conditions
/// follow M. F. Porter, "An algorithm for suffix stripping" (Program 14(3), 1980) in fts5_tokenize.c's order.
/// </summary>
internal static class PorterStemmer
{
    private const int MaxToken = 64;

    /// <summary>The stem of a folded (lower-case) token.</summary>
    public static string Stem(string token)
    {
        var bytes = Encoding.UTF8.GetBytes(token);
        if (bytes.Length is < 3 or > MaxToken) return token;
        var b = new byte[bytes.Length + 8];
        bytes.CopyTo(b, 0);
        int n = bytes.Length;

        Step1A(b, ref n);
        if (Step1B(b, ref n))
        {
            if (!Step1B2(b, ref n))
            {
                byte c = b[n - 1];
                if (!IsVowel(c, false) && c != 'l' && c != 's' && c != 'z' && c == b[n - 2]) n--;
                else if (MEq1(b, n) && OStar(b, n)) b[n++] = (byte)'e';
            }
        }
        if (b[n - 1] == 'y' && HasVowel(b, n - 1)) b[n - 1] = (byte)'i'; // step 1c
        Step2(b, ref n);
        Step3(b, ref n);
        Step4(b, ref n);
        if (b[n - 1] == 'e' && (MGt1(b, n - 1) || (MEq1(b, n - 1) && !OStar(b, n - 1)))) n--; // step 5a
        if (n > 1 && b[n - 1] == 'l' && b[n - 2] == 'l' && MGt1(b, n - 1)) n--; // step 5b
        return Encoding.UTF8.GetString(b, 0, n);
    }

    // ---- conditions (m = the number of vowel-consonant sequences in the stem) ----

    private static bool IsVowel(byte c, bool yIsVowel) => c is (byte)'a' or (byte)'e' or (byte)'i' or (byte)'o' or (byte)'u' || (yIsVowel && c == 'y');

    /// <summary>Length of the stem prefix through its first VC sequence (0 when it has none). 'y' after a consonant is a vowel.</summary>
    private static int GobbleVC(ReadOnlySpan<byte> s, bool prevConsonant)
    {
        bool consonant = prevConsonant;
        int i = 0;
        for (; i < s.Length; i++)
            if (!(consonant = !IsVowel(s[i], consonant))) break;
        for (i++; i < s.Length; i++)
            if (consonant = !IsVowel(s[i], consonant)) return i + 1;
        return 0;
    }

    private static bool MGt0(byte[] b, int n) => GobbleVC(b.AsSpan(0, n), false) != 0;

    private static bool MGt1(byte[] b, int n)
    {
        int k = GobbleVC(b.AsSpan(0, n), false);
        return k != 0 && GobbleVC(b.AsSpan(k, n - k), true) != 0;
    }

    private static bool MEq1(byte[] b, int n)
    {
        int k = GobbleVC(b.AsSpan(0, n), false);
        return k != 0 && GobbleVC(b.AsSpan(k, n - k), true) == 0;
    }

    /// <summary>*o: the stem ends consonant-vowel-consonant, the last not w, x or y.</summary>
    private static bool OStar(byte[] b, int n)
    {
        if (b[n - 1] is (byte)'w' or (byte)'x' or (byte)'y') return false;
        int mask = 0;
        bool consonant = false;
        for (int i = 0; i < n; i++)
        {
            consonant = !IsVowel(b[i], consonant);
            mask = (mask << 1) + (consonant ? 1 : 0);
        }
        return (mask & 7) == 5;
    }

    private static bool HasVowel(byte[] b, int n)
    {
        for (int i = 0; i < n; i++)
            if (IsVowel(b[i], i > 0)) return true;
        return false;
    }

    private static bool EndsWith(byte[] b, int n, string suffix)
    {
        // Strictly longer than the suffix, as fts5_tokenize.c tests (a stem may not be empty).
        if (n <= suffix.Length) return false;
        for (int i = 0; i < suffix.Length; i++)
            if (b[n - suffix.Length + i] != suffix[i]) return false;
        return true;
    }

    private static void Replace(byte[] b, ref int n, int suffixLength, string with)
    {
        n -= suffixLength;
        foreach (var ch in with) b[n++] = (byte)ch;
    }

    // ---- steps ----

    private static void Step1A(byte[] b, ref int n)
    {
        if (b[n - 1] != 's') return;
        if (b[n - 2] == 'e')
        {
            if ((n > 4 && b[n - 4] == 's' && b[n - 3] == 's') || (n > 3 && b[n - 3] == 'i')) n -= 2; // sses → ss, ies → i
            else n -= 1;
        }
        else if (b[n - 2] != 's') n -= 1;
    }

    /// <summary>eed → ee (m&gt;0); ed, ing removed when the stem has a vowel. True when ed/ing went (step 1b's tidy-up follows).</summary>
    private static bool Step1B(byte[] b, ref int n)
    {
        if (EndsWith(b, n, "eed"))
        {
            if (MGt0(b, n - 3)) Replace(b, ref n, 3, "ee");
            return false;
        }
        if (EndsWith(b, n, "ed"))
        {
            if (!HasVowel(b, n - 2)) return false;
            n -= 2;
            return true;
        }
        if (EndsWith(b, n, "ing"))
        {
            if (!HasVowel(b, n - 3)) return false;
            n -= 3;
            return true;
        }
        return false;
    }

    private static bool Step1B2(byte[] b, ref int n)
    {
        foreach (var (from, to) in s_step1B2)
            if (EndsWith(b, n, from))
            {
                Replace(b, ref n, from.Length, to);
                return true;
            }
        return false;
    }

    private static readonly (string From, string To)[] s_step1B2 = [("at", "ate"), ("bl", "ble"), ("iz", "ize")];

    // Suffix rules: the first suffix that matches decides (its condition failing leaves the word as it is).
    private static readonly (string From, string To)[] s_step2 =
    [
        ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("logi", "log"),
        ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
        ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"),
        ("iviti", "ive"), ("biliti", "ble"),
    ];

    private static readonly (string From, string To)[] s_step3 =
        [("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", "")];

    private static readonly string[] s_step4 =
        ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize"];

    private static void Step2(byte[] b, ref int n) => ApplyFirst(b, ref n, s_step2);

    private static void Step3(byte[] b, ref int n) => ApplyFirst(b, ref n, s_step3);

    /// <summary>
    /// Rules are tried as fts5_tokenize.c's generated switch does: only those whose second-to-last letter matches
    /// the word's, in table order; the first whose suffix matches decides.
    /// </summary>
    private static void ApplyFirst(byte[] b, ref int n, (string From, string To)[] rules)
    {
        if (n < 2) return; // every suffix here is longer than what is left
        foreach (var (from, to) in rules)
        {
            if (from[^2] != b[n - 2] || !EndsWith(b, n, from)) continue;
            if (MGt0(b, n - from.Length)) Replace(b, ref n, from.Length, to);
            return;
        }
    }

    private static void Step4(byte[] b, ref int n)
    {
        if (n < 2) return;
        foreach (var suffix in s_step4)
        {
            if (suffix[^2] != b[n - 2] || !EndsWith(b, n, suffix)) continue;
            int stem = n - suffix.Length;
            bool ok = suffix == "ion"
                ? (b[stem - 1] is (byte)'s' or (byte)'t') && MGt1(b, stem)
                : MGt1(b, stem);
            if (ok) n = stem;
            return;
        }
    }
}
