using SineGrpc.Engine;

namespace SineGrpc.Server.Mapping;

/// <summary>
/// How many prompt masks one Track frame or Segment call may decode, checked before each
/// is allocated: prompts are a few bytes on the wire (an RLE mask, an id in an index PNG)
/// but a frame-sized array each once decoded, so without a bound a small message could
/// ask for gigabytes.
/// </summary>
/// <param name="masksPerImage">
/// Masks one image's prompts may give (Limits:MaxObjectsPerStream): ids are distinct per
/// image, so no valid request needs more.
/// </param>
/// <param name="pixels">
/// Mask pixels the whole request may decode (Limits:MaxMaskPixels), for Segment's
/// references together.
/// </param>
internal sealed class PromptAllowance(int masksPerImage, long pixels)
{
    private readonly long _pixels = pixels;
    private long _pixelsLeft = pixels;

    public int MasksPerImage => masksPerImage;

    /// <summary>Takes the room for <paramref name="masks"/> masks of <paramref name="width"/> x <paramref name="height"/>.</summary>
    /// <exception cref="InvalidInputException">The request's masks would hold more pixels than allowed.</exception>
    public void Take(int masks, int width, int height)
    {
        var needed = (long)masks * width * height;
        if (needed > _pixelsLeft)
            throw new InvalidInputException(
                $"the prompt masks of this request hold more than {_pixels} pixels in all (Limits:MaxMaskPixels): send fewer or smaller");
        _pixelsLeft -= needed;
    }
}
