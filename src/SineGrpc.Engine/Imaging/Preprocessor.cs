using OpenCvSharp;
using SineGrpc.Engine.Masks;
using SineGrpc.Engine.Models;

namespace SineGrpc.Engine.Imaging;

/// <summary>
/// Prepares frames and masks for a model's input: bilinear resize to the model's input size,
/// normalisation per <see cref="ModelManifest"/>, zero padding at the bottom and right.
/// Masks come in bilinearly (the embedded model) or with PyTorch's nearest rule (SINE
/// bundles, as the reference evaluation does).
/// </summary>
/// <remarks>
/// An instance keeps scratch Mats between calls so that per-frame work allocates nothing
/// once the frame size is stable. It is therefore NOT thread-safe: use one per worker.
/// </remarks>
public sealed class Preprocessor : IDisposable
{
    // Per output channel: the source channel of a BGR pixel, and a 256-entry table of
    // (pixel * PixelScale - mean) / std, computed in that order as the reference does.
    private readonly int[] _sourceChannel;
    private readonly float[][] _lookup;
    private readonly Mat _resized = new();
    private readonly Mat _float = new();
    private readonly Mat _resizedFloat = new();
    private readonly float _pixelScale;
    private readonly float[] _mean;
    private readonly float[] _std;
    private readonly Mat _maskSource = new();
    private readonly Mat _maskResized = new();

    public Preprocessor(ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        _sourceChannel = manifest.ChannelOrder == "bgr" ? [0, 1, 2] : [2, 1, 0];
        _pixelScale = manifest.PixelScale;
        _mean = manifest.Mean;
        _std = manifest.Std;
        _lookup = new float[3][];
        for (int c = 0; c < 3; c++)
        {
            _lookup[c] = new float[256];
            for (int p = 0; p < 256; p++)
                _lookup[c][p] = (p * manifest.PixelScale - manifest.Mean[c]) / manifest.Std[c];
        }
    }

    /// <summary>
    /// Writes the model input for a BGR CV_8UC3 frame as CHW floats [3, PaddedHeight, PaddedWidth]:
    /// resized (bilinear), in the model's channel order, normalised, then zero-padded.
    /// </summary>
    public void Run(Mat bgr, InputGeometry g, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(bgr);
        if (bgr.Type() != MatType.CV_8UC3)
            throw new ArgumentException($"expected a CV_8UC3 BGR Mat, got {bgr.Type()}", nameof(bgr));
        if (bgr.Width != g.SourceWidth || bgr.Height != g.SourceHeight)
            throw new ArgumentException($"frame is {bgr.Width}x{bgr.Height}, geometry expects {g.SourceWidth}x{g.SourceHeight}", nameof(bgr));
        int plane = g.PaddedWidth * g.PaddedHeight;
        if (destination.Length != 3 * plane)
            throw new ArgumentException($"destination has {destination.Length} floats, [3, {g.PaddedHeight}, {g.PaddedWidth}] needs {3 * plane}", nameof(destination));

        var resized = bgr;
        if (bgr.Width != g.ResizedWidth || bgr.Height != g.ResizedHeight)
        {
            // As the reference: scale to float first, resize the float image, then normalise.
            bgr.ConvertTo(_float, MatType.CV_32FC3, _pixelScale);
            Cv2.Resize(_float, _resizedFloat, new Size(g.ResizedWidth, g.ResizedHeight), 0, 0, InterpolationFlags.Linear);
            for (int c = 0; c < 3; c++)
            {
                var output = destination.Slice(c * plane, plane);
                int source = _sourceChannel[c];
                float mean = _mean[c], std = _std[c];
                for (int y = 0; y < g.ResizedHeight; y++)
                {
                    var pixels = FloatRow(_resizedFloat, y, g.ResizedWidth * 3);
                    var line = output.Slice(y * g.PaddedWidth, g.PaddedWidth);
                    for (int x = 0; x < g.ResizedWidth; x++)
                        line[x] = (pixels[3 * x + source] - mean) / std;
                    line[g.ResizedWidth..].Clear();
                }
                output[(g.ResizedHeight * g.PaddedWidth)..].Clear();
            }
            return;
        }

        for (int c = 0; c < 3; c++)
        {
            var output = destination.Slice(c * plane, plane);
            var table = _lookup[c];
            int source = _sourceChannel[c];
            for (int y = 0; y < g.ResizedHeight; y++)
            {
                var pixels = Row(resized, y, g.ResizedWidth * 3);
                var line = output.Slice(y * g.PaddedWidth, g.PaddedWidth);
                for (int x = 0; x < g.ResizedWidth; x++)
                    line[x] = table[pixels[3 * x + source]];
                line[g.ResizedWidth..].Clear();
            }
            // Padding comes after normalisation, so it is 0 in normalised units (as the reference pads).
            output[(g.ResizedHeight * g.PaddedWidth)..].Clear();
        }
    }

    /// <summary>
    /// Writes a source-size binary mask (non-zero = 1; with a <paramref name="label"/>, the pixels
    /// equal to it = 1) at model input size [PaddedHeight, PaddedWidth]: bilinearly resized as
    /// float to the resized size, zeros in the padding.
    /// </summary>
    public void MaskToInput(ReadOnlySpan<byte> mask, int srcW, int srcH, InputGeometry g, Span<float> destination, byte label = 0)
    {
        if (srcW <= 0 || srcH <= 0 || mask.Length != (long)srcW * srcH)
            throw new ArgumentException($"mask has {mask.Length} bytes, {srcW}x{srcH} needs {(long)srcW * srcH}", nameof(mask));
        if (destination.Length != g.PaddedWidth * g.PaddedHeight)
            throw new ArgumentException($"destination has {destination.Length} floats, [{g.PaddedHeight}, {g.PaddedWidth}] needs {g.PaddedWidth * g.PaddedHeight}", nameof(destination));

        _maskSource.Create(srcH, srcW, MatType.CV_32FC1);
        for (int y = 0; y < srcH; y++)
        {
            var source = mask.Slice(y * srcW, srcW);
            var target = FloatRow(_maskSource, y, srcW);
            for (int x = 0; x < srcW; x++)
                target[x] = MaskLabel.Covers(source[x], label) ? 1f : 0f;
        }

        var resized = _maskSource;
        if (srcW != g.ResizedWidth || srcH != g.ResizedHeight)
        {
            Cv2.Resize(_maskSource, _maskResized, new Size(g.ResizedWidth, g.ResizedHeight), 0, 0, InterpolationFlags.Linear);
            resized = _maskResized;
        }
        for (int y = 0; y < g.ResizedHeight; y++)
        {
            var line = destination.Slice(y * g.PaddedWidth, g.PaddedWidth);
            FloatRow(resized, y, g.ResizedWidth).CopyTo(line);
            line[g.ResizedWidth..].Clear();
        }
        destination[(g.ResizedHeight * g.PaddedWidth)..].Clear();
    }

    /// <summary>
    /// Writes a source-size mask (non-zero = 1; with a <paramref name="label"/>, the pixels equal
    /// to it = 1) at model input size [PaddedHeight, PaddedWidth] with PyTorch's nearest rule
    /// (source index = min(floor(i * (float)in / out), in - 1), in single precision), zeros in
    /// the padding: how SINE's reference evaluation brings masks to its input.
    /// </summary>
    public static void NearestMaskToInput(ReadOnlySpan<byte> mask, byte label, InputGeometry g, Span<float> destination)
    {
        CheckMaskPlanes(mask, g, destination);
        destination.Clear();
        var columns = NearestIndices(g.SourceWidth, g.ResizedWidth);
        var rows = NearestIndices(g.SourceHeight, g.ResizedHeight);
        for (var y = 0; y < g.ResizedHeight; y++)
        {
            var source = mask.Slice(rows[y] * g.SourceWidth, g.SourceWidth);
            var line = destination.Slice(y * g.PaddedWidth, g.ResizedWidth);
            for (var x = 0; x < line.Length; x++)
                line[x] = MaskLabel.Covers(source[columns[x]], label) ? 1f : 0f;
        }
    }

    /// <summary>
    /// Writes, at model input size, the feature cell (<see cref="InputGeometry.FeatureStride"/>
    /// input pixels square, cut at the resized image's edge) that a source-size mask's centre
    /// of mass falls in: 1 inside it, 0 elsewhere. This is how a prompt that the resize to the
    /// model's input loses (an object a few pixels across) is kept: as the smallest region
    /// the model's features tell apart, around where it was.
    /// </summary>
    /// <returns>false, with <paramref name="destination"/> cleared, when the mask covers no pixel.</returns>
    public static bool CentreCellToInput(ReadOnlySpan<byte> mask, byte label, InputGeometry g, Span<float> destination)
    {
        CheckMaskPlanes(mask, g, destination);
        destination.Clear();
        long count = 0, sumX = 0, sumY = 0;
        for (var y = 0; y < g.SourceHeight; y++)
        {
            var row = mask.Slice(y * g.SourceWidth, g.SourceWidth);
            for (var x = 0; x < row.Length; x++)
            {
                if (MaskLabel.Covers(row[x], label))
                {
                    count++;
                    sumX += x;
                    sumY += y;
                }
            }
        }
        if (count == 0)
            return false;

        // The centre's pixel at the resized size (pixel centres scale as (p + 0.5) * out / in).
        var centreColumn = Math.Clamp((int)(((double)sumX / count + 0.5) * g.ResizedWidth / g.SourceWidth), 0, g.ResizedWidth - 1);
        var centreRow = Math.Clamp((int)(((double)sumY / count + 0.5) * g.ResizedHeight / g.SourceHeight), 0, g.ResizedHeight - 1);
        var stride = g.FeatureStride;
        int left = centreColumn / stride * stride, top = centreRow / stride * stride;
        int right = Math.Min(left + stride, g.ResizedWidth), bottom = Math.Min(top + stride, g.ResizedHeight);
        for (var y = top; y < bottom; y++)
            destination.Slice(y * g.PaddedWidth + left, right - left).Fill(1f);
        return true;
    }

    /// <summary>
    /// Mean over factor x factor blocks of a row-major w x h map (e.g. an input-size mask onto
    /// the feature grid). w and h must be multiples of factor; dst is (w/factor) x (h/factor).
    /// </summary>
    public static void AreaDownsample(ReadOnlySpan<float> src, int w, int h, int factor, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(factor);
        if (w % factor != 0 || h % factor != 0)
            throw new ArgumentException($"{w}x{h} is not a multiple of the factor {factor}");
        if (src.Length != (long)w * h)
            throw new ArgumentException($"src has {src.Length} floats, {w}x{h} needs {(long)w * h}", nameof(src));
        int outW = w / factor, outH = h / factor;
        if (dst.Length != outW * outH)
            throw new ArgumentException($"dst has {dst.Length} floats, {outW}x{outH} needs {outW * outH}", nameof(dst));

        float scale = 1f / (factor * factor);
        for (int oy = 0; oy < outH; oy++)
        {
            var output = dst.Slice(oy * outW, outW);
            output.Clear();
            // Sum the block rows into the output row, then scale once.
            for (int dy = 0; dy < factor; dy++)
            {
                var row = src.Slice((oy * factor + dy) * w, w);
                for (int ox = 0; ox < outW; ox++)
                {
                    float sum = 0f;
                    var block = row.Slice(ox * factor, factor);
                    foreach (var v in block)
                        sum += v;
                    output[ox] += sum;
                }
            }
            for (int ox = 0; ox < outW; ox++)
                output[ox] *= scale;
        }
    }

    public void Dispose()
    {
        _resized.Dispose();
        _float.Dispose();
        _resizedFloat.Dispose();
        _maskSource.Dispose();
        _maskResized.Dispose();
    }

    private static void CheckMaskPlanes(ReadOnlySpan<byte> mask, InputGeometry g, Span<float> destination)
    {
        if (mask.Length != g.SourceWidth * g.SourceHeight)
            throw new ArgumentException($"mask has {mask.Length} bytes, {g.SourceWidth}x{g.SourceHeight} needs {g.SourceWidth * g.SourceHeight}", nameof(mask));
        if (destination.Length != g.PaddedWidth * g.PaddedHeight)
            throw new ArgumentException($"destination has {destination.Length} floats, [{g.PaddedHeight}, {g.PaddedWidth}] needs {g.PaddedWidth * g.PaddedHeight}", nameof(destination));
    }

    /// <summary>Per output index, the input index PyTorch's nearest rule reads.</summary>
    internal static int[] NearestIndices(int input, int output)
    {
        var indices = new int[output];
        var scale = (float)input / output;
        for (var i = 0; i < output; i++)
        {
            indices[i] = input == output ? i
                : output == 2 * input ? i >> 1
                : Math.Min((int)MathF.Floor(i * scale), input - 1);
        }
        return indices;
    }

    private static unsafe ReadOnlySpan<byte> Row(Mat mat, int y, int length) =>
        new((byte*)mat.DataPointer + y * mat.Step(), length);

    private static unsafe Span<float> FloatRow(Mat mat, int y, int length) =>
        new((byte*)mat.DataPointer + y * mat.Step(), length);
}
