namespace SineGrpc.Client.Tracking;

/// <summary>The server broke the Track stream's contract (replies missing, extra or out of order).</summary>
internal sealed class TrackProtocolException(string message) : Exception(message);
