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
    private readonly Mat _rows = new();
    private SourceSamples? _samples;

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

        for (int i = 0; i < count; i++)
        {
            using var resized = UpsampleAndCrop(maps.Slice(i * mapSize, mapSize), mapH, mapW, g);
            // Straight into the caller's plane: a Mat over it of the right size and type is
            // written in place, not reallocated.
            unsafe
            {
                fixed (float* target = destination.Slice(i * outSize, outSize))
                {
                    using var output = Mat.FromPixelData(outH, outW, MatType.CV_32FC1, (IntPtr)target);
                    Cv2.Resize(resized, output, new Size(outW, outH), 0, 0, InterpolationFlags.Linear);
                }
            }
        }
    }

    /// <summary>
    /// The first two steps for one map: upsampled to the padded input (into the scratch
    /// plane), and the view of it that the resized image covers; dispose the view.
    /// </summary>
    private Mat UpsampleAndCrop(ReadOnlySpan<float> map, int mapH, int mapW, InputGeometry g)
    {
        unsafe
        {
            fixed (float* source = map)
            {
                using var mapMat = Mat.FromPixelData(mapH, mapW, MatType.CV_32FC1, (IntPtr)source, mapW * sizeof(float));
                Cv2.Resize(mapMat, _padded, new Size(g.PaddedWidth, g.PaddedHeight), 0, 0, InterpolationFlags.Linear);
            }
        }
        return new Mat(_padded, new Rect(0, 0, g.ResizedWidth, g.ResizedHeight));
    }

    /// <summary>
    /// A logit map's binary prediction (logit &gt; 0) at the frame's size, brought back to the
    /// model's input as <see cref="Preprocessor.NearestMaskToInput"/> brings a mask there:
    /// the same as <see cref="ToOutput"/> at the source size, <see cref="Threshold"/>, then
    /// NearestMaskToInput, but only the source pixels that the nearest rule reads are
    /// computed. That is how SINE's memory takes in a prediction, once per object and frame:
    /// the whole source-size plane would cost more than twice as much at 1080p.
    /// </summary>
    /// <remarks>
    /// The second resize is OpenCV's bilinear, which is separable: a horizontal pass over
    /// each source row it reads, then per output row a weighted sum of two such rows. OpenCV
    /// does the horizontal pass here (to the source width, at the resized height), and the
    /// vertical sums are made only for the rows the nearest rule reads, with OpenCV's row
    /// weights. A logit within a rounding error of 0 may fall the other way than in the
    /// full resize; the memory pools the mask at a quarter of the feature grid's cells, where
    /// that pixel hardly counts.
    /// </remarks>
    public void PredictionToInput(ReadOnlySpan<float> map, int mapH, int mapW, InputGeometry g, Span<float> destination)
    {
        if (map.Length != (long)mapH * mapW)
            throw new ArgumentException($"map has {map.Length} floats, [{mapH}, {mapW}] needs {(long)mapH * mapW}", nameof(map));
        if (destination.Length != g.PaddedWidth * g.PaddedHeight)
            throw new ArgumentException($"destination has {destination.Length} floats, [{g.PaddedHeight}, {g.PaddedWidth}] needs {g.PaddedWidth * g.PaddedHeight}", nameof(destination));

        using (var resized = UpsampleAndCrop(map, mapH, mapW, g))
            Cv2.Resize(resized, _rows, new Size(g.SourceWidth, g.ResizedHeight), 0, 0, InterpolationFlags.Linear);

        var sampled = SampledPixels(g);
        destination.Clear();
        for (var y = 0; y < g.ResizedHeight; y++)
        {
            var (top, below, weight) = sampled.Rows[y];
            var upper = FloatRow(_rows, top, g.SourceWidth);
            var lower = FloatRow(_rows, below, g.SourceWidth);
            var line = destination.Slice(y * g.PaddedWidth, g.ResizedWidth);
            for (var x = 0; x < line.Length; x++)
            {
                var column = sampled.Columns[x];
                var logit = upper[column] * (1f - weight) + lower[column] * weight;
                line[x] = logit > 0f ? 1f : 0f;
            }
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
        _rows.Dispose();
    }

    /// <summary>Which source pixels the nearest rule reads for <paramref name="g"/>, and how the bilinear resize makes their rows (kept while the geometry stays).</summary>
    private SourceSamples SampledPixels(InputGeometry g)
    {
        if (_samples is { } known && known.Geometry == g)
            return known;
        var rows = Preprocessor.NearestIndices(g.SourceHeight, g.ResizedHeight);
        var weights = new (int Top, int Below, float Weight)[rows.Length];
        for (var y = 0; y < rows.Length; y++)
            weights[y] = LinearRow(rows[y], g.ResizedHeight, g.SourceHeight);
        _samples = new SourceSamples(g, Preprocessor.NearestIndices(g.SourceWidth, g.ResizedWidth), weights);
        return _samples;
    }

    /// <summary>
    /// The two source rows, and the lower one's weight, that OpenCV's bilinear resize from
    /// <paramref name="inputSize"/> to <paramref name="outputSize"/> rows combines for output
    /// row <paramref name="row"/>: centre at (row + 0.5) * in / out - 0.5 (float), clamped at
    /// both edges, where the weight is 0.
    /// </summary>
    internal static (int Top, int Below, float Weight) LinearRow(int row, int inputSize, int outputSize)
    {
        var scale = 1.0 / ((double)outputSize / inputSize);
        var position = (float)((row + 0.5) * scale - 0.5);
        var top = (int)MathF.Floor(position);
        var weight = position - top;
        if (top < 0)
            (top, weight) = (0, 0f);
        if (top >= inputSize - 1)
            (top, weight) = (inputSize - 1, 0f);
        return (top, Math.Min(top + 1, inputSize - 1), weight);
    }

    private static unsafe ReadOnlySpan<float> FloatRow(Mat mat, int y, int length) =>
        new((byte*)mat.DataPointer + y * mat.Step(), length);

    private sealed record SourceSamples(InputGeometry Geometry, int[] Columns, (int Top, int Below, float Weight)[] Rows);
}
