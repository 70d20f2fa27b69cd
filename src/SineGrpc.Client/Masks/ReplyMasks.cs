using OpenCvSharp;
using Sine.V1;

namespace SineGrpc.Client.Masks;

/// <summary>Turns a Track reply's masks into one index mask.</summary>
internal static class ReplyMasks
{
    /// <summary>
    /// The reply's index mask: the server's own <c>index_mask</c> when it sent one, otherwise the
    /// per-object masks flattened (higher score wins). <paramref name="idTooLarge"/> hears about object
    /// ids that do not fit an 8-bit mask, and are left out.
    /// </summary>
    public static IndexMask ToIndexMask(TrackResponse reply, Action<uint> idTooLarge)
    {
        foreach (var tooLarge in reply.Objects.Where(o => o.ObjectId > IndexMaskComposer.MaxObjectId))
        {
            idTooLarge(tooLarge.ObjectId);
        }

        if (!reply.IndexMask.IsEmpty)
        {
            return DecodeIndexPng(reply.IndexMask.ToByteArray());
        }

        // A mask of no pixels cannot be written as a PNG, and one no array holds cannot be decoded.
        if (reply.Width == 0 || reply.Height == 0 || (ulong)reply.Width * reply.Height > (ulong)Array.MaxLength)
        {
            throw new InvalidDataException($"its size is {reply.Width}x{reply.Height}");
        }
        var width = (int)reply.Width;
        var height = (int)reply.Height;
        var layers = reply.Objects
            .Where(o => o.ObjectId <= IndexMaskComposer.MaxObjectId)
            .Select(o => new ObjectLayer(o.ObjectId, o.Score, DecodeMask(o.Mask, o.ObjectId)));
        return IndexMaskComposer.Compose(width, height, layers);
    }

    private static BinaryMask DecodeMask(Mask? mask, uint objectId) => mask?.EncodingCase switch
    {
        Mask.EncodingOneofCase.Rle => CocoRle.Decode(mask.Rle),
        Mask.EncodingOneofCase.Png => DecodeBinaryPng(mask.Png.ToByteArray()),
        _ => throw new InvalidDataException($"object {objectId} came without a mask"),
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
