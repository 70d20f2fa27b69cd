using Microsoft.Extensions.Logging.Abstractions;
using SineGrpc.Engine.Models.Embedded;
using SineGrpc.Server.Hosting;

// `build-embedded-model <folder>` builds the embedded model into a cache folder and
// exits: container images run it at build time so pods start without building.
if (args is ["build-embedded-model", var cacheFolder])
{
    Console.WriteLine(EmbeddedModel.EnsureBuilt(cacheFolder, NullLogger.Instance));
    return 0;
}

await ServerApp.Create(args).RunAsync();
return Environment.ExitCode;
