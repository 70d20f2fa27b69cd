using Google.Protobuf;
using OpenCvSharp;
using Sine.V1;

namespace SineGrpc.Client.Masks;

/// <summary>Turns the masks of a Track or Segment reply into index masks.</summary>
internal static class ReplyMasks
{
    /// <summary>
    /// The reply's index mask: the server's own <c>index_mask</c> when it sent one, otherwise the
    /// per-object masks flattened (higher score wins). <paramref name="idTooLarge"/> hears about object
    /// ids that do not fit an 8-bit mask, and are left out.
    /// </summary>
    public static IndexMask ToIndexMask(TrackResponse reply, Action<uint> idTooLarge) =>
        ToIndexMask(reply.IndexMask, reply.Width, reply.Height, reply.Objects, idTooLarge);

    /// <summary>
    /// <paramref name="objects"/> (per-object masks of <paramref name="width"/> x <paramref name="height"/>)
    /// as one index mask, or <paramref name="indexMask"/> when the server sent one.
    /// </summary>
    public static IndexMask ToIndexMask(ByteString indexMask, uint width, uint height, IEnumerable<ObjectMask> objects, Action<uint> idTooLarge)
    {
        var listed = objects.ToList();
        foreach (var tooLarge in listed.Where(o => o.ObjectId > IndexMaskComposer.MaxObjectId))
        {
            idTooLarge(tooLarge.ObjectId);
        }

        if (!indexMask.IsEmpty)
        {
            return DecodeIndexPng(indexMask.ToByteArray());
        }

        var (w, h) = CheckedSize(width, height);
        var layers = listed
            .Where(o => o.ObjectId <= IndexMaskComposer.MaxObjectId)
            .Select(o => new ObjectLayer(o.ObjectId, o.Score, DecodeMask(o.Mask, $"object {o.ObjectId}")));
        return IndexMaskComposer.Compose(w, h, layers);
    }

    /// <summary>One mask of the reply, checked to be <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static BinaryMask Decode(Mask? mask, uint width, uint height, string what)
    {
        var (w, h) = CheckedSize(width, height);
        var decoded = DecodeMask(mask, what);
        if (decoded.Width != w || decoded.Height != h)
        {
            throw new InvalidDataException($"{what}'s mask is {decoded.Width}x{decoded.Height}, but the reply's masks are {w}x{h}");
        }
        return decoded;
    }

    // A mask of no pixels cannot be written as a PNG, and one no array holds cannot be decoded.
    private static (int Width, int Height) CheckedSize(uint width, uint height) =>
        width == 0 || height == 0 || (ulong)width * height > (ulong)Array.MaxLength
            ? throw new InvalidDataException($"its size is {width}x{height}")
            : ((int)width, (int)height);

    private static BinaryMask DecodeMask(Mask? mask, string what) => mask?.EncodingCase switch
    {
        Mask.EncodingOneofCase.Rle => CocoRle.Decode(mask.Rle),
        Mask.EncodingOneofCase.Png => DecodeBinaryPng(mask.Png.ToByteArray()),
        _ => throw new InvalidDataException($"{what} came without a mask"),
    };

    private static BinaryMask DecodeBinaryPng(byte[] png)
    {
        using var image = Cv2.ImDecode(png, ImreadModes.Grayscale);
        if (image.Empty())
        {
            throw new InvalidDataException("a mask PNG from the server could not be decoded");
        }
        var pixels = new byte[image.Rows * image.Cols];
        var source = image.AsSpan<byte>();
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = source[i] != 0 ? (byte)1 : (byte)0;
        }
        return new BinaryMask(image.Cols, image.Rows, pixels);
    }

    private static IndexMask DecodeIndexPng(byte[] png)
    {
        // Unchanged keeps 16-bit masks at 16 bits (ids of 256 and more).
        using var image = Cv2.ImDecode(png, ImreadModes.Unchanged);
        if (image.Empty() || image.Channels() != 1)
        {
            throw new InvalidDataException("the server's index_mask is not a single-channel PNG");
        }
        var pixels = new byte[image.Rows * image.Cols];
        if (image.Depth() == MatType.CV_8U)
        {
            image.AsSpan<byte>().CopyTo(pixels);
        }
        else if (image.Depth() == MatType.CV_16U)
        {
            var source = image.AsSpan<ushort>();
            for (var i = 0; i < pixels.Length; i++)
            {
                // Ids above 255 were reported by ToIndexMask; they become background here.
                pixels[i] = source[i] <= IndexMaskComposer.MaxObjectId ? (byte)source[i] : (byte)0;
            }
        }
        else
        {
            throw new InvalidDataException("the server's index_mask is neither 8-bit nor 16-bit");
        }
        return new IndexMask(image.Cols, image.Rows, pixels);
    }
}
