using OpenCvSharp;

namespace SineGrpc.Engine.Imaging;

/// <summary>
/// Brings decoder outputs back to the caller's frame, as the reference post-processing does:
/// each map is upsampled bilinearly to the padded input, cropped to the resized image
/// (top-left, dropping the padding) and resized bilinearly to the output size.
/// </summary>
/// <remarks>
/// Both resizes are OpenCV INTER_LINEAR, which is PyTorch's bilinear with align_corners=False
/// (without antialiasing). The two steps are kept separate on purpose: a single resize of
/// the corresponding sub-rectangle is not the same function in general.
/// An instance keeps scratch Mats between calls, so it is NOT thread-safe: use one per worker.
/// </remarks>
public sealed class Postprocessor : IDisposable
{
    private readonly Mat _padded = new();
    private readonly Mat _output = new();

    /// <summary>
    /// Resizes <paramref name="count"/> row-major maps [count, mapH, mapW] covering the padded input
    /// to <paramref name="destination"/> [count, outH, outW].
    /// </summary>
    public void ToOutput(ReadOnlySpan<float> maps, int count, int mapH, int mapW, InputGeometry g, int outW, int outH, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mapH);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mapW);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outW);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outH);
        int mapSize = mapH * mapW, outSize = outW * outH;
        if (maps.Length != (long)count * mapSize)
            throw new ArgumentException($"maps has {maps.Length} floats, [{count}, {mapH}, {mapW}] needs {(long)count * mapSize}", nameof(maps));
        if (destination.Length != (long)count * outSize)
            throw new ArgumentException($"destination has {destination.Length} floats, [{count}, {outH}, {outW}] needs {(long)count * outSize}", nameof(destination));

        var crop = new Rect(0, 0, g.ResizedWidth, g.ResizedHeight);
        for (int i = 0; i < count; i++)
        {
            unsafe
            {
                fixed (float* map = maps.Slice(i * mapSize, mapSize))
                {
                    using var source = Mat.FromPixelData(mapH, mapW, MatType.CV_32FC1, (IntPtr)map, mapW * sizeof(float));
                    Cv2.Resize(source, _padded, new Size(g.PaddedWidth, g.PaddedHeight), 0, 0, InterpolationFlags.Linear);
                }
            }
            using (var resized = new Mat(_padded, crop))
                Cv2.Resize(resized, _output, new Size(outW, outH), 0, 0, InterpolationFlags.Linear);

            var target = destination.Slice(i * outSize, outSize);
            for (int y = 0; y < outH; y++)
                FloatRow(_output, y, outW).CopyTo(target.Slice(y * outW, outW));
        }
    }

    /// <summary>Binary mask of logits: 1 where the logit is above 0 (probability above 0.5), else 0.</summary>
    public static void Threshold(ReadOnlySpan<float> logits, Span<byte> mask)
    {
        if (mask.Length != logits.Length)
            throw new ArgumentException($"mask has {mask.Length} bytes for {logits.Length} logits", nameof(mask));
        for (int i = 0; i < logits.Length; i++)
            mask[i] = logits[i] > 0f ? (byte)1 : (byte)0;
    }

    /// <summary>
    /// Per pixel, the index of the largest of <paramref name="l"/> planes [l, pixels] (the first
    /// one on ties, as torch.argmax).
    /// </summary>
    public static void Argmax(ReadOnlySpan<float> labels, int l, int pixels, Span<ushort> bestIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(l);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(l, ushort.MaxValue + 1);
        if (labels.Length != (long)l * pixels)
            throw new ArgumentException($"labels has {labels.Length} floats, [{l}, {pixels}] needs {(long)l * pixels}", nameof(labels));
        if (bestIndex.Length != pixels)
            throw new ArgumentException($"bestIndex has {bestIndex.Length} entries for {pixels} pixels", nameof(bestIndex));

        // Plane by plane keeps every read sequential; the current best is re-read through its index.
        bestIndex.Clear();
        for (int k = 1; k < l; k++)
        {
            var plane = labels.Slice(k * pixels, pixels);
            for (int i = 0; i < pixels; i++)
            {
                if (plane[i] > labels[bestIndex[i] * pixels + i])
                    bestIndex[i] = (ushort)k;
            }
        }
    }

    public void Dispose()
    {
        _padded.Dispose();
        _output.Dispose();
    }

    private static unsafe ReadOnlySpan<float> FloatRow(Mat mat, int y, int length) =>
        new((byte*)mat.DataPointer + y * mat.Step(), length);
}
