using OpenCvSharp;

namespace SineGrpc.Server.Tests;

/// <summary>
/// A generated test clip: a textured object (a striped ellipse) moving over a textured
/// background, with its true mask on every frame. A second object (a checkered
/// rectangle) can enter part-way through.
/// </summary>
internal sealed class SyntheticVideo : IDisposable
{
    public const int Width = 320;
    public const int Height = 240;
    private readonly Mat _background;

    public SyntheticVideo(int seed = 7)
    {
        _background = new Mat(Height, Width, MatType.CV_8UC3);
        var random = new Random(seed);
        var noise = new byte[Width * Height * 3];
        random.NextBytes(noise);
        using var raw = Mat.FromPixelData(Height, Width, MatType.CV_8UC3, noise);
        Cv2.GaussianBlur(raw, _background, new Size(7, 7), 2.0);
        // Pull the background towards green-grey so the objects' colours stand apart.
        Cv2.AddWeighted(_background, 0.6, new Mat(Height, Width, MatType.CV_8UC3, new Scalar(60, 110, 70)), 0.4, 0, _background);
    }

    /// <summary>Frame t (BGR) and its truth: per pixel 0, 1 (ellipse) or 2 (rectangle, from <paramref name="secondFrom"/>).</summary>
    public (Mat Frame, byte[] Truth) Render(int t, int secondFrom = int.MaxValue)
    {
        var frame = _background.Clone();
        using var labels = new Mat(Height, Width, MatType.CV_8UC1, Scalar.All(0));

        var center = new Point(70 + 5 * t, 120 + (int)(20 * Math.Sin(t / 5.0)));
        using (var stripes = Stripes())
        using (var ellipseMask = new Mat(Height, Width, MatType.CV_8UC1, Scalar.All(0)))
        {
            Cv2.Ellipse(ellipseMask, center, new Size(42, 30), 0, 0, 360, Scalar.All(255), -1);
            stripes.CopyTo(frame, ellipseMask);
            labels.SetTo(Scalar.All(1), ellipseMask);
        }

        if (t >= secondFrom)
        {
            var rect = new Rect(230, 40 + 2 * (t - secondFrom), 50, 40);
            for (var y = rect.Top; y < rect.Bottom; y++)
            for (var x = rect.Left; x < rect.Right; x++)
                frame.Set(y, x, ((x / 6) + (y / 6)) % 2 == 0 ? new Vec3b(250, 250, 250) : new Vec3b(30, 30, 200));
            labels[rect].SetTo(Scalar.All(2));
        }

        labels.GetArray(out byte[] truth);
        return (frame, truth);
    }

    private static Mat Stripes()
    {
        var stripes = new Mat(Height, Width, MatType.CV_8UC3);
        for (var y = 0; y < Height; y++)
        for (var x = 0; x < Width; x++)
            stripes.Set(y, x, ((x + y) / 5) % 2 == 0 ? new Vec3b(20, 200, 240) : new Vec3b(40, 40, 180));
        return stripes;
    }

    public static byte[] Jpeg(Mat frame) => frame.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 92));

    public static byte[] Png(Mat image) => image.ImEncode(".png");

    /// <summary>The truth for one object as an 8-bit PNG (0 / 255).</summary>
    public static byte[] MaskPng(byte[] truth, byte label, int width = Width, int height = Height)
    {
        var binary = truth.Select(v => v == label ? (byte)255 : (byte)0).ToArray();
        using var mat = Mat.FromPixelData(height, width, MatType.CV_8UC1, binary);
        return mat.ImEncode(".png");
    }

    public static double IoU(ReadOnlySpan<byte> predicted, byte[] truth, byte label)
    {
        long intersection = 0, union = 0;
        for (var p = 0; p < truth.Length; p++)
        {
            var a = predicted[p] != 0;
            var b = truth[p] == label;
            if (a && b) intersection++;
            if (a || b) union++;
        }
        return union == 0 ? 1.0 : (double)intersection / union;
    }

    public void Dispose() => _background.Dispose();
}
