namespace SineGrpc.Client.Cli;

/// <summary>Process exit codes, so scripts can tell failures apart.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The server, the stream, a file or the input failed.</summary>
    public const int Failure = 1;

    /// <summary>Bad command line.</summary>
    public const int Usage = 2;

    /// <summary>Tracking finished, but the server reported errors for some frames.</summary>
    public const int FrameErrors = 3;

    /// <summary>Interrupted by Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;
}
