using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Engine.Masks;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Server.Mapping;

/// <summary>
/// Turns API prompts into masks at their frame's size: binary, or, for the objects of one
/// index mask, one plane of their ids that they share.
///
/// Size rule: a mask must have its frame's size, except that a mask one pixel short or
/// long in width and/or height (some datasets ship such masks) is padded with
/// background or cropped at the right/bottom edge. Anything else is INVALID_ARGUMENT.
/// </summary>
internal static class PromptReader
{
    /// <param name="allowance">Masks this image and the whole request may still decode (checked before each is allocated).</param>
    public static List<PromptMask> Read(IReadOnlyCollection<Prompt> prompts, int width, int height, long maxPixels, PromptAllowance allowance)
    {
        if (prompts.Count > allowance.MasksPerImage)
            throw new InvalidInputException($"{prompts.Count} prompts on one image are over the limit of {allowance.MasksPerImage} objects");
        var masks = new List<PromptMask>();
        foreach (var prompt in prompts)
        {
            // Checked here as well as by the engine: the wire's uint32 would wrap in the engine's int.
            if (prompt.ObjectId > ushort.MaxValue)
                throw new InvalidInputException($"object id {prompt.ObjectId} is out of range: ids are 1 to {ushort.MaxValue}");
            switch (prompt.Mask?.EncodingCase)
            {
                case Mask.EncodingOneofCase.Rle:
                    if (prompt.ObjectId == 0)
                        throw new InvalidInputException("an RLE prompt needs an object_id (> 0)");
                    allowance.Take(1, width, height);
                    masks.Add(new PromptMask((int)prompt.ObjectId, ReadRle(prompt.Mask.Rle, prompt.ObjectId, width, height)));
                    break;
                case Mask.EncodingOneofCase.Png:
                    masks.AddRange(ReadPng(prompt, width, height, maxPixels, allowance, allowance.MasksPerImage - masks.Count));
                    break;
                default:
                    throw new InvalidInputException($"the prompt for object {prompt.ObjectId} has no mask (set mask.rle or mask.png)");
            }
        }
        return masks;
    }

    private static byte[] ReadRle(Rle rle, uint objectId, int width, int height)
    {
        var what = $"the RLE mask of object {objectId}";
        CheckSize(rle.Width, rle.Height, width, height, what);
        var (h, w) = ((int)rle.Height, (int)rle.Width);
        var mask = new byte[h * w];
        var hasCounts = rle.Counts.Length > 0;
        var hasRaw = rle.UncompressedCounts.Count > 0;
        if (hasCounts == hasRaw)
            throw new InvalidInputException($"the RLE mask of object {objectId} must set exactly one of counts and uncompressed_counts");
        if (hasCounts)
        {
            CocoRle.Decode(rle.Counts, h, w, mask);
        }
        else
        {
            // Checked before the copy, so that the copy is bounded by the mask, not the message.
            CocoRle.CheckCountLimit(rle.UncompressedCounts.Count, h, w);
            CocoRle.DecodeCounts([.. rle.UncompressedCounts], h, w, mask);
        }
        return FitToFrame(mask, w, h, width, height, what);
    }

    private static List<PromptMask> ReadPng(Prompt prompt, int width, int height, long maxPixels, PromptAllowance allowance, int masksLeft)
    {
        var png = prompt.Mask.Png.Span;
        var what = prompt.ObjectId == 0 ? "the index mask" : $"the PNG mask of object {prompt.ObjectId}";
        // The size and the allowance are checked from the header, before the decode: a small
        // PNG can declare a huge image, and inflating it would cost time and memory in
        // proportion to what it declares, not to the frame.
        var (maskWidth, maskHeight) = MaskPng.ReadSize(png);
        CheckSize(maskWidth, maskHeight, width, height, what);
        // An index mask must hold at least one object (checked below), so one mask is taken
        // now and the rest once its ids are known.
        allowance.Take(1, width, height);

        var labels = MaskPng.Decode(png, maxPixels);
        var values = FitToFrame(labels.Values, labels.Width, labels.Height, width, height, what);
        if (prompt.ObjectId != 0)
        {
            var binary = new byte[values.Length];
            for (var p = 0; p < values.Length; p++)
                binary[p] = values[p] != 0 ? (byte)1 : (byte)0;
            return [new PromptMask((int)prompt.ObjectId, binary)];
        }

        var ids = new SortedSet<ushort>();
        foreach (var v in values)
        {
            if (v != 0)
                ids.Add(v);
        }
        if (ids.Count == 0)
            throw new InvalidInputException("the index mask (object_id 0) holds no object: every pixel is 0");
        if (ids.Count > masksLeft)
            throw new InvalidInputException(
                $"the index mask holds {ids.Count} objects: with the image's other prompts, over the limit of {allowance.MasksPerImage} objects");
        if (ids.Max <= byte.MaxValue)
        {
            // The objects share one plane of their ids, each reading the pixels of its own
            // (PromptMask.Label): one frame-sized plane however many objects the mask holds.
            var plane = new byte[values.Length];
            for (var p = 0; p < values.Length; p++)
                plane[p] = (byte)values[p];
            return ids.Select(id => new PromptMask(id, plane, (byte)id)).ToList();
        }
        // Ids past 255 do not fit a plane of bytes: a mask each.
        allowance.Take(ids.Count - 1, width, height);
        return ids.Select(id =>
        {
            var binary = new byte[values.Length];
            for (var p = 0; p < values.Length; p++)
                binary[p] = values[p] == id ? (byte)1 : (byte)0;
            return new PromptMask(id, binary);
        }).ToList();
    }

    private static void CheckSize(long maskWidth, long maskHeight, int width, int height, string what)
    {
        if (Math.Abs(maskWidth - width) > 1 || Math.Abs(maskHeight - height) > 1)
            throw new InvalidInputException($"{what} is {maskWidth}x{maskHeight} but its frame is {width}x{height} (masks must match their frame, give or take one pixel)");
    }

    /// <summary>Applies the one-pixel size rule (see the type's summary).</summary>
    internal static T[] FitToFrame<T>(T[] mask, int maskWidth, int maskHeight, int width, int height, string what)
    {
        CheckSize(maskWidth, maskHeight, width, height, what);
        if (maskWidth == width && maskHeight == height)
            return mask.Length == width * height ? mask : mask[..(width * height)];
        var fitted = new T[width * height];
        var copyWidth = Math.Min(width, maskWidth);
        for (var y = 0; y < Math.Min(height, maskHeight); y++)
            Array.Copy(mask, y * maskWidth, fitted, y * width, copyWidth);
        return fitted;
    }
}
