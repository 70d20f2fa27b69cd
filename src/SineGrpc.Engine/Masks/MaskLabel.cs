namespace SineGrpc.Engine.Masks;

/// <summary>
/// Which bytes of a prompt mask are its object's: any non-zero byte of a binary mask (label
/// 0), or the bytes equal to the object's label in an index mask its objects share.
/// </summary>
public static class MaskLabel
{
    public static bool Covers(byte value, byte label) => label == 0 ? value != 0 : value == label;
}
