namespace SineGrpc.Client.Cli;

/// <summary>The validated options of <c>sine models</c>.</summary>
internal sealed record ModelsOptions(Uri Server)
{
    public static readonly CommandSpec Command = new(
        Name: "models",
        Usage: "sine models [--server <url>]",
        Description: "Lists the models the server serves, with their input geometry, memory and licence.",
        Options: [ServerAddress.Option]);

    public static ModelsOptions FromArguments(ParsedArguments args) => new(ServerAddress.Parse(args));
}
