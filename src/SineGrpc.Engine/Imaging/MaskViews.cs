using OpenCvSharp;

namespace SineGrpc.Engine.Imaging;

/// <summary>Resizes single-channel planes held in spans through OpenCV, without copying them into managed Mats.</summary>
internal static unsafe class MaskViews
{
    public static void Resize(ReadOnlySpan<float> source, int sourceHeight, int sourceWidth, Span<float> destination, int height, int width, InterpolationFlags interpolation)
    {
        fixed (float* src = source)
        fixed (float* dst = destination)
        {
            using var srcMat = Mat.FromPixelData(sourceHeight, sourceWidth, MatType.CV_32FC1, (IntPtr)src);
            using var dstMat = Mat.FromPixelData(height, width, MatType.CV_32FC1, (IntPtr)dst);
            Cv2.Resize(srcMat, dstMat, new Size(width, height), 0, 0, interpolation);
        }
    }

    public static void Resize(ReadOnlySpan<byte> source, int sourceHeight, int sourceWidth, Span<byte> destination, int height, int width, InterpolationFlags interpolation)
    {
        if (sourceHeight == height && sourceWidth == width)
        {
            source[..(height * width)].CopyTo(destination);
            return;
        }
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            using var srcMat = Mat.FromPixelData(sourceHeight, sourceWidth, MatType.CV_8UC1, (IntPtr)src);
            using var dstMat = Mat.FromPixelData(height, width, MatType.CV_8UC1, (IntPtr)dst);
            Cv2.Resize(srcMat, dstMat, new Size(width, height), 0, 0, interpolation);
        }
    }
}
