namespace SineGrpc.Client.Cli;

/// <summary>The command line is wrong; the message says how. Exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>A failure to report to the user as one plain message (no stack trace). Exit code 1.</summary>
internal sealed class CliException(string message, Exception? inner = null) : Exception(message, inner);
