namespace SineGrpc.Engine;

/// <summary>
/// The caller's input cannot be used: an undecodable image, a mask of the wrong size,
/// malformed RLE, a limit exceeded. The host maps it to INVALID_ARGUMENT with
/// <see cref="Exception.Message"/> as the detail, so the message must say exactly
/// what is wrong in terms the caller can act on.
/// </summary>
public sealed class InvalidInputException(string message) : Exception(message);
