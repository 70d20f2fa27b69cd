namespace SineGrpc.Client.Masks;

/// <summary>A row-major index mask: each pixel is an object id, 0 = background.</summary>
internal sealed record IndexMask(int Width, int Height, byte[] Pixels);

/// <summary>One object's mask with the score that decides overlaps.</summary>
internal sealed record ObjectLayer(uint ObjectId, float Score, BinaryMask Mask);

/// <summary>Flattens per-object masks, which may overlap, into one index mask.</summary>
internal static class IndexMaskComposer
{
    /// <summary>Largest id an 8-bit index mask can hold.</summary>
    public const uint MaxObjectId = byte.MaxValue;

    /// <summary>
    /// Paints the objects from the lowest score up, so where masks overlap the higher score wins
    /// (on equal scores, the higher id). Objects with ids above 255 cannot be stored and are skipped.
    /// </summary>
    public static IndexMask Compose(int width, int height, IEnumerable<ObjectLayer> layers)
    {
        var pixels = new byte[width * height];
        foreach (var layer in layers.OrderBy(l => l.Score).ThenBy(l => l.ObjectId))
        {
            if (layer.ObjectId is 0 or > MaxObjectId)
            {
                continue;
            }
            if (layer.Mask.Width != width || layer.Mask.Height != height)
            {
                throw new InvalidDataException(
                    $"object {layer.ObjectId}'s mask is {layer.Mask.Width}x{layer.Mask.Height}, but the frame's masks are {width}x{height}");
            }
            var id = (byte)layer.ObjectId;
            var mask = layer.Mask.Pixels;
            for (var i = 0; i < pixels.Length; i++)
            {
                if (mask[i] != 0)
                {
                    pixels[i] = id;
                }
            }
        }
        return new IndexMask(width, height, pixels);
    }
}
