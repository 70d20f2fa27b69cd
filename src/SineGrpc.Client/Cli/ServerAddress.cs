namespace SineGrpc.Client.Cli;

/// <summary>The --server option: an absolute http:// or https:// address.</summary>
internal static class ServerAddress
{
    public const string Default = "http://localhost:5000";

    public static readonly OptionSpec Option =
        new("server", "url", $"Server address, http://host:port or https://host:port (default {Default})");

    public static Uri Parse(ParsedArguments args)
    {
        var text = args.Get(Option.Name) ?? Default;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"--server must be an http:// or https:// address such as {Default}, not '{text}'");
        }
        return uri;
    }
}
