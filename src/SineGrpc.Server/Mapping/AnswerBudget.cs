using SineGrpc.Engine;

namespace SineGrpc.Server.Mapping;

/// <summary>
/// Limits:MaxMaskPixels applied to what a Track frame or Segment call answers: every mask
/// at the output size. Checked before the engine runs, since post-processing allocates a
/// score map and a mask per object at that size (the prompt masks a request decodes are
/// bounded alike, by <see cref="PromptAllowance"/>).
/// </summary>
internal static class AnswerBudget
{
    /// <exception cref="InvalidInputException"><paramref name="masks"/> masks of that size hold more than <paramref name="maxMaskPixels"/> pixels.</exception>
    /// <param name="remedy">What the caller can ask for instead, ending the message.</param>
    public static void Check(int masks, (int Width, int Height) output, long maxMaskPixels, string what, string remedy)
    {
        var pixels = (long)masks * output.Width * output.Height;
        if (pixels > maxMaskPixels)
            throw new InvalidInputException(
                $"{what} would hold {masks} masks of {output.Width}x{output.Height} = {pixels} pixels, over Limits:MaxMaskPixels ({maxMaskPixels}): {remedy}");
    }

    /// <summary>How many more masks of the output size fit beside <paramref name="masks"/> others (0 when none do).</summary>
    public static int Room(int masks, (int Width, int Height) output, long maxMaskPixels)
    {
        var fit = maxMaskPixels / ((long)output.Width * output.Height) - masks;
        return (int)Math.Clamp(fit, 0, int.MaxValue);
    }
}
