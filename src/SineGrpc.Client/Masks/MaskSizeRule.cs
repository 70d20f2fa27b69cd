namespace SineGrpc.Client.Masks;

/// <summary>
/// The server's rule for prompt mask sizes (README, "Mask size rule"): a mask has its frame's
/// size, or is one pixel short or long in width and/or height, which the server pads with
/// background or crops at the right/bottom edge. Anything else it refuses with INVALID_ARGUMENT.
/// </summary>
internal static class MaskSizeRule
{
    public static bool Fits(int maskWidth, int maskHeight, int frameWidth, int frameHeight) =>
        Math.Abs(maskWidth - frameWidth) <= 1 && Math.Abs(maskHeight - frameHeight) <= 1;
}
