using System.Numerics;

namespace SineGrpc.Engine.Tracking;

/// <summary>Vector tests over a block of floats, to pass over blocks where a per-pixel loop would find nothing to do.</summary>
internal static class FloatBlocks
{
    /// <summary>Whether any value is above 0 (NaN is not).</summary>
    public static bool AnyPositive(ReadOnlySpan<float> values)
    {
        var i = 0;
        for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            if (Vector.GreaterThanAny(new Vector<float>(values[i..]), Vector<float>.Zero))
                return true;
        }
        for (; i < values.Length; i++)
        {
            if (values[i] > 0f)
                return true;
        }
        return false;
    }

    /// <summary>Whether any value is above the one at its index in <paramref name="than"/> (a NaN on either side is not).</summary>
    public static bool AnyGreater(ReadOnlySpan<float> values, ReadOnlySpan<float> than)
    {
        if (than.Length < values.Length)
            throw new ArgumentException($"{than.Length} values to compare with, {values.Length} needed", nameof(than));
        var i = 0;
        for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            if (Vector.GreaterThanAny(new Vector<float>(values[i..]), new Vector<float>(than[i..])))
                return true;
        }
        for (; i < values.Length; i++)
        {
            if (values[i] > than[i])
                return true;
        }
        return false;
    }
}
