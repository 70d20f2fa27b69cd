namespace SineGrpc.Client.Masks;

/// <summary>A binary mask, row-major, one byte per pixel: 1 = object, 0 = background.</summary>
internal sealed record BinaryMask(int Width, int Height, byte[] Pixels);
