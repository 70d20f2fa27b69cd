namespace SineGrpc.Client.Cli;

/// <summary>The --server option: an absolute http:// or https:// address.</summary>
internal static class ServerAddress
{
    public const string Default = "http://localhost:5000";

    /// <summary>Names the server when --server does not: set once per shell, for a service that is not local.</summary>
    public const string EnvironmentVariable = "SINE_SERVER";

    public static readonly OptionSpec Option =
        new("server", "url", $"Server address, http://host:port or https://host:port (default ${EnvironmentVariable}, else {Default})");

    public static Uri Parse(ParsedArguments args) => Parse(args, Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <param name="fromEnvironment">The value of <see cref="EnvironmentVariable"/>; an empty one counts as unset.</param>
    internal static Uri Parse(ParsedArguments args, string? fromEnvironment)
    {
        var (text, source) = args.Get(Option.Name) is { } given
            ? (given, "--server")
            : string.IsNullOrEmpty(fromEnvironment) ? (Default, "--server") : (fromEnvironment, EnvironmentVariable);
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"{source} must be an http:// or https:// address such as {Default}, not '{text}'");
        }
        return uri;
    }
}
